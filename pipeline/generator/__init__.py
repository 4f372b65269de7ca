"""The traffic generator: arrival process + question selection + the storage cache check,
paced on the intended schedule.

    from pipeline.generator import run_load
    summary = run_load("exp-42", questions, {"kind": "poisson", "rate": 50}, policy,
                       duration_s=60, repeat_share=0.1, seed=42)
"""

from pipeline.generator.load import CACHE_COALESCED, LoadSummary, run_load
from pipeline.generator.pacing import Pacer
from pipeline.generator.settings import GeneratorSettings

__all__ = ["CACHE_COALESCED", "GeneratorSettings", "LoadSummary", "Pacer", "run_load"]

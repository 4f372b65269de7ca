"""`harness calibrate`: fit the LLM simulator to a real OpenAI-compatible endpoint.

``plan`` (what is sent), ``measure`` (sending it through the project's LLM client), ``fit`` (pure
fitting: latency model, slots, overload, token accounting), ``distance`` (KS statistic, median
ratio), ``run`` (measure, fit, simulate the same plan, compare), ``report`` (the profile file, the
Markdown report and its PNG). docs/local-llm.md describes it.
"""

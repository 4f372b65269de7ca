"""A tiny study (2 cells x 2 repeats, 10 s of load at 4/s each on the instant simulator profile)
through `harness study` on the real stack: every run, then the study's report with both cells,
their intervals and a verdict per claim. About two to four minutes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import yaml

from experiments.report.settings import ReportSettings
from experiments.studies.model import STUDIES_DIR


def test_a_tiny_study_runs_through_harness_study_and_writes_its_report(endpoints, tmp_path):
    data = yaml.safe_load((STUDIES_DIR / "tiny.yaml").read_text())
    data["name"] = f"e2e-{uuid.uuid4().hex[:8]}"  # fresh labels: nothing to resume
    path = tmp_path / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data))
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "harness.cli", "study", str(path),
                           "--refresh", "5"], capture_output=True, text=True, timeout=600)
    print(f"harness study took {time.monotonic() - started:.0f} s")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    out = ReportSettings().reports_root / "studies" / data["name"]
    assert str(out / "index.html") in done.stdout
    study = json.loads((out / "study.json").read_text())
    assert [c["name"] for c in study["cells"]] == ["base_s-0.1", "base_s-0.5"]
    for cell in study["cells"]:
        assert len(cell["runs"]) == 2 and not cell["missing"]
        amp = cell["metrics"]["amplification"]
        assert amp["n"] == 2
        assert amp["ci_low"] is not None and amp["ci_low"] <= amp["mean"] <= amp["ci_high"]
        for label, report in zip(cell["runs"], cell["report_dirs"], strict=True):
            assert label.startswith(f"{data['name']}.{cell['name']}.r")
            assert (Path(report) / "metrics.json").exists()
    verdicts = {v["claim"]: v for v in study["verdicts"]}
    assert set(verdicts) == {c["id"] for c in data["claims"]}
    for verdict in verdicts.values():
        assert verdict["outcome"] in ("reproduced", "not_reproduced", "not_testable")
        assert verdict["reason"]
        assert verdict["claim"] in done.stdout
    # no faults: one LLM call per question, so the tiny study's first claim holds
    assert verdicts["one-call"]["outcome"] == "reproduced", verdicts["one-call"]["reason"]
    assert "95% CI" in (out / "report.md").read_text()
    assert (out / "sweep_amplification.png").exists()

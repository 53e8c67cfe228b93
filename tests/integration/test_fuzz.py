"""Schemathesis against the live CPU service: every operation of GET /openapi.json is fuzzed with
valid and invalid inputs; no answer may be a 5xx or disagree with the schema (status code,
content type, body).

The CI version is short (FANYI_FUZZ_EXAMPLES cases per operation and phase, default 8). The
longer run recorded in docs/reliability.md is the same test with a larger count:
    FANYI_FUZZ_EXAMPLES=400 flock /tmp/fanyi-integration.lock \
        .venv/bin/python -m pytest tests/integration/test_fuzz.py -s
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def test_schemathesis_finds_no_server_error_or_schema_violation(base_url, tmp_path):
    examples = int(os.environ.get("FANYI_FUZZ_EXAMPLES", "8"))
    report = tmp_path / "fuzz.json"
    cmd = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        CHECKS,
        "--max-examples",
        str(examples),
        "--workers",
        "1",
        "--seed",
        "7",
        "--phases",
        "examples,coverage,fuzzing",
        "--request-timeout",
        "60",
        "--no-shrink",
        "--suppress-health-check",
        "all",
        "--generation-database",
        "none",  # each run from its seed alone
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.integration.fuzz_hooks", "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    summary = _summary(report)
    print(f"\nfuzz: {json.dumps(summary)}")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    # Each POST operation gets `examples` fuzzed inputs; a GET without parameters has only a handful
    # of distinct ones (8 examples: 600 inputs, 100: 968, 400: 2168 with seed 7).
    assert summary["operations"] >= 8 and summary["cases"] >= 4 * examples


def _summary(report: Path) -> dict:
    """Figures for docs/reliability.md from schemathesis' JSON report: operations tested, inputs
    generated, failures by kind, errors, seconds."""
    if not report.exists():
        return {"operations": 0, "cases": 0}
    data = json.loads(report.read_text())
    return {
        "operations": data["operations"]["tested"],
        "cases": data["test_cases"]["generated"],
        "with_failures": data["test_cases"]["with_failures"],
        "failures": [(f["title"], f["count"], f["operations"]) for f in data.get("failures", [])],
        "errors": data.get("errors", []),
        "seconds": data.get("running_time"),
    }

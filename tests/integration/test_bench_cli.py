"""`python -m app.bench` as a subprocess against the running CPU service (tiny model): a few streamed
requests at concurrency 1 and 2 per API, and the files it writes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def bench(base_url: str, out, *args: str) -> tuple[dict, str]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.bench",
            "--system",
            f"tiny={base_url}/v1",
            "--concurrency",
            "1,2",
            "--requests",
            "3",
            "--out",
            str(out),
            "--no-progress",
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout
    rows = [json.loads(line) for line in (out / "requests.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and all(r["error"] is None and (r["ttft_ms"] or 0) <= r["e2e_ms"] for r in rows)
    return json.loads((out / "results.json").read_text()), done.stdout


def check_levels(results: list[dict], api: str) -> None:
    assert [(r["system"], r["api"], r["concurrency"]) for r in results] == [("tiny", api, 1), ("tiny", api, 2)]
    for r in results:
        assert r["requests"] == r["completed"] == 3 and r["errors"] == {}
        assert r["output_tokens"] > 0 and r["output_tokens_per_s"] > 0 and r["requests_per_s"] > 0
        # TTFT <= e2e per request, so every statistic of TTFT is at most the same statistic of e2e
        assert all(0 < r["ttft_ms"][k] <= r["e2e_ms"][k] for k in ("mean", "p50", "p90", "p99"))


@pytest.mark.parametrize("api", ["chat", "completions"])
def test_bench_streams_fixed_output_lengths(base_url, tmp_path, api):
    # Sampled, not greedy: the random tiny model's argmax is often a special token, which streams no text.
    data, stdout = bench(
        base_url,
        tmp_path,
        "--api",
        api,
        "--model",
        "tiny",
        "--random-input-len",
        "12",
        "--output-len",
        "6",
        "--temperature",
        "1",
    )
    check_levels(data["results"], api)
    for r in data["results"]:  # ignore_eos: exactly the asked length, counted from the server's usage
        assert r["output_tokens"] == 3 * 6 and r["mean_prompt_tokens"] > 0
        assert r["tpot_ms"]["p50"] > 0
    assert data["config"]["api"] == api and "api_key" not in data["config"]
    assert f"| tiny | {api} | 2 |" in stdout and (tmp_path / "table.md").read_text().startswith("| system |")
    for png in ("throughput.png", "ttft.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_translate_api(base_url, tmp_path):
    prompts = tmp_path / "sentences.txt"
    prompts.write_text(
        "今天天气很好。\n我们明天见。\n这本书很有意思。\n他在北京工作。\n火车晚点了。\n猫在睡觉。\n", encoding="utf-8"
    )
    data, _ = bench(
        base_url,
        tmp_path / "out",
        "--api",
        "translate",
        "--model",
        "tiny",
        "--prompts-file",
        str(prompts),
        "--target-lang",
        "en",
        "--source-lang",
        "zh",
    )
    check_levels(data["results"], "translate")


def test_bench_reports_errors_by_type(base_url, tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.bench",
            "--system",
            f"tiny={base_url}/v1",
            "--model",
            "no-such-model",
            "--requests",
            "2",
            "--random-input-len",
            "4",
            "--out",
            str(tmp_path),
            "--no-progress",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    [level] = json.loads((tmp_path / "results.json").read_text())["results"]
    assert level["errors"] == {"http_404:model_not_found": 2} and level["completed"] == 0

"""app.bench.metrics and app.bench.report: exact expectations from synthetic timestamps."""

from __future__ import annotations

import json
import math

import pytest

from app.bench import report as bench_report
from app.bench.metrics import (
    RequestRecord,
    Stat,
    classify_http,
    classify_stream_error,
    inter_token_latencies,
    percentile,
    request_row,
    summarize,
    tpot,
    ttft,
)


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([1, 2, 3, 4], 50, 2.5),  # between the two middle ranks
        ([1, 2, 3, 4], 90, 3.7),  # rank 2.7: 3 + 0.7 * (4 - 3)
        ([1, 2, 3, 4], 99, 3.97),
        ([1, 2, 3, 4], 0, 1),
        ([1, 2, 3, 4], 100, 4),
        ([4, 1, 3, 2], 50, 2.5),  # order does not matter
        ([7], 99, 7),
        (list(range(1, 101)), 99, 99.01),
        (list(range(1, 101)), 50, 50.5),
    ],
)
def test_percentile_interpolates_between_closest_ranks(values, q, expected):
    assert percentile(values, q) == pytest.approx(expected, abs=1e-12)


def test_percentile_of_nothing_is_nan():
    assert math.isnan(percentile([], 50))


def test_ttft_itl_tpot_from_chunk_timestamps():
    start, chunks, end = 10.0, [10.25, 10.30, 10.40, 10.45], 10.5
    assert ttft(start, chunks) == pytest.approx(0.25)
    assert ttft(start, []) is None
    assert inter_token_latencies(chunks) == pytest.approx([0.05, 0.10, 0.05])
    assert inter_token_latencies([1.0]) == []
    # 4 tokens: the 3 after the first share e2e - ttft = 0.5 - 0.25
    assert tpot(end - start, 0.25, 4) == pytest.approx(0.25 / 3)
    assert tpot(0.5, 0.25, 1) is None


def test_tokens_prefer_the_servers_usage_over_chunk_count():
    merged = RequestRecord(start=0.0, end=1.0, chunk_times=[0.1, 0.5], output_tokens=10)
    assert merged.tokens() == 10  # a paced server merges tokens into fewer chunks
    assert RequestRecord(start=0.0, end=1.0, chunk_times=[0.1, 0.5]).tokens() == 2


def test_errors_are_classified_by_status_and_openai_type():
    body = {"error": {"message": "x", "type": "invalid_request_error", "param": "model", "code": "model_not_found"}}
    assert classify_http(404, body) == "http_404:model_not_found"
    assert classify_http(503, {"error": {"message": "x", "type": "overloaded", "code": None}}) == "http_503:overloaded"
    assert classify_http(502, None) == "http_502"
    assert classify_http(500, {"detail": "plain FastAPI"}) == "http_500"
    assert classify_stream_error({"error": {"type": "internal_error", "code": None}}) == "stream:internal_error"


def level_records() -> list[RequestRecord]:
    return [
        RequestRecord(start=0.0, end=1.0, chunk_times=[0.2, 0.4, 0.6, 1.0], output_tokens=5, prompt_tokens=8),
        RequestRecord(start=0.5, end=2.0, chunk_times=[0.9, 1.4], prompt_tokens=8),  # no usage: 2 chunks
        RequestRecord(start=1.0, end=1.1, error="http_503:overloaded"),
        RequestRecord(start=1.0, end=1.5, error="timeout"),
    ]


def test_summarize_a_level():
    s = summarize(level_records(), "ours", "chat", 2, None)
    assert (s.requests, s.completed) == (4, 2)
    assert s.errors == {"http_503:overloaded": 1, "timeout": 1}
    assert s.duration_s == pytest.approx(2.0)  # first start 0.0 to last end 2.0
    assert s.output_tokens == 7 and s.output_tokens_per_s == pytest.approx(3.5)
    assert s.requests_per_s == pytest.approx(1.0)
    assert s.mean_output_tokens == pytest.approx(3.5) and s.mean_prompt_tokens == 8
    assert s.ttft_ms.p50 == pytest.approx(300.0)  # TTFTs 200 and 400 ms; failed requests not counted
    assert s.ttft_ms.mean == pytest.approx(300.0)
    # TPOT: (1.0 - 0.2) / 4 = 200 ms and (1.5 - 0.4) / 1 = 1100 ms
    assert s.tpot_ms.p50 == pytest.approx(650.0)
    assert s.itl_ms.p50 == pytest.approx(300.0)  # gaps 200, 200, 400 and 500 ms
    assert s.e2e_ms.p90 == pytest.approx((1.0 + 0.9 * 0.5) * 1000)


def test_one_chunk_streams_have_no_tpot():
    whole = RequestRecord(start=0.0, end=2.0, chunk_times=[1.9], output_tokens=40)  # a segment sent whole
    s = summarize([whole], "ours", "translate", 1, None)
    assert s.ttft_ms.p50 == pytest.approx(1900.0) and math.isnan(s.tpot_ms.p50) and math.isnan(s.itl_ms.p50)
    assert s.output_tokens == 40


def test_summarize_with_no_success_has_no_latencies():
    s = summarize([RequestRecord(start=0.0, end=0.1, error="timeout")], "raw", "completions", 1, 2.0)
    assert s.completed == 0 and s.output_tokens_per_s == 0 and math.isnan(s.ttft_ms.p50)
    assert s.rate == 2.0


def test_report_json_table_and_plots(tmp_path):
    levels = [summarize(level_records(), "ours", "chat", c, None) for c in (1, 8, 64)]
    levels += [summarize(level_records()[:2], "raw", "chat", c, None) for c in (1, 8, 64)]
    levels.append(summarize([RequestRecord(start=0.0, end=0.1, error="timeout")], "raw", "chat", 256, None))
    rows = [request_row(r, "ours", 1, 0.0) for r in level_records()]
    written = bench_report.write(levels, {"api": "chat"}, tmp_path, rows)
    assert [p.name for p in written] == ["results.json", "table.md", "requests.jsonl", "throughput.png", "ttft.png"]
    assert [json.loads(line) for line in (tmp_path / "requests.jsonl").read_text().splitlines()] == rows
    data = json.loads((tmp_path / "results.json").read_text())  # strict JSON: NaN became null
    assert data["config"] == {"api": "chat"} and len(data["results"]) == 7
    assert data["results"][-1]["ttft_ms"]["p50"] is None
    table = (tmp_path / "table.md").read_text().splitlines()
    assert len(table) == 2 + 7 and table[0].startswith("| system | api | concurrency |")
    assert "| ours | chat | 1 | - | 4 | http_503:overloaded 1, timeout 1 | 1.00 | 3.5 | 300.0 |" in table[2]
    assert "| raw | chat | 256 | - | 1 | timeout 1 | 0.00 | 0.0 | - |" in table[-1]
    for png in written[3:]:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_stat_scales_seconds_to_milliseconds():
    assert Stat.of([0.001, 0.003]).model_dump() == pytest.approx({"mean": 2.0, "p50": 2.0, "p90": 2.8, "p99": 2.98})


def test_request_row_names_the_prompt_and_times_in_ms():
    rec = RequestRecord(start=5.5, end=6.0, chunk_times=[5.75, 5.9], output_tokens=3, prompt_tokens=7, prompt_index=12)
    assert request_row(rec, "ours", 8, 5.0) == {
        "system": "ours",
        "concurrency": 8,
        "prompt_index": 12,
        "sent_s": 0.5,
        "ttft_ms": 250.0,
        "e2e_ms": 500.0,
        "chunks": 2,
        "output_tokens": 3,
        "prompt_tokens": 7,
        "error": None,
    }
    failed = request_row(RequestRecord(start=5.0, end=5.1, error="timeout"), "ours", 8, 5.0)
    assert failed["ttft_ms"] is None and failed["error"] == "timeout"

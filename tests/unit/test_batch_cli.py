"""The batch job's command line and its reference scoring, without Ray: every mistake in a command
is one line on stderr and exit status 2 before Ray starts; `--references` scores the committed
output row by row (rows that failed, and jsonl lines that were not JSON, count as empty)."""

from __future__ import annotations

import json

import pytest

from app.batch.cli import main
from app.batch.job import BatchConfig, prepare
from app.batch.shards import commit_shard, plan_shards, read_shard, render_output
from app.batch.summary import Summary, score_references

SERVE_CONFIG = """
applications:
  - name: fanyi
    import_path: deployments.builder:build_app
    args: {models: [{name: small, source: /models/small, device: cpu}]}
"""


@pytest.fixture()
def corpus(tmp_path):
    (tmp_path / "a.txt").write_text("你好\n谢谢\n")
    (tmp_path / "a.xml").write_text("<x/>\n")
    (tmp_path / "serve.yaml").write_text(SERVE_CONFIG)
    return tmp_path


@pytest.mark.parametrize(
    "args, message",
    [
        (["--input", "{d}/missing.txt", "--model-source", "m"], "--input {d}/missing.txt: no such file or folder"),
        (["--input", "{d}/a.xml", "--model-source", "m"], "--input {d}/a.xml: no input files of the supported kinds"),
        (["--input", "{d}/a.txt", "--target", "xx"], "unsupported language 'xx'"),
        (["--input", "{d}/a.txt", "--source", "klingon"], "unsupported language 'klingon'"),
        (
            ["--input", "{d}/a.txt", "--config", "{d}/serve.yaml", "--model", "big"],
            "--config {d}/serve.yaml: no model named 'big'; it has ['small']",
        ),
        (["--input", "{d}/a.txt", "--config", "{d}/none.yaml"], "--config {d}/none.yaml: not a readable Serve config"),
        (["--input", "{d}/a.txt", "--model", "small"], "offline mode needs a model"),
        (["--input", "{d}/a.txt", "--model-source", "m", "--env", "{{x"], "--env: expected a JSON object"),
        (["--input", "{d}/a.txt", "--model-source", "m", "--block-rows", "0"], "--block-rows: Input should be greater"),
        (
            ["--input", "{d}/a.txt", "--model-source", "m", "--references", "{d}/a.xml"],
            "--references {d}/a.xml: 1 lines for 2 input rows",
        ),
    ],
)
def test_bad_command_lines_fail_in_one_line_before_ray(corpus, capsys, monkeypatch, args, message):
    import ray

    # In a full test run an earlier test may have connected this process to Ray already, so "before
    # Ray" is checked by making any start of Ray an error.
    def no_ray(*args, **kwargs):
        raise AssertionError("Ray was started")

    monkeypatch.setattr(ray, "init", no_ray)
    was_up = ray.is_initialized()
    argv = [a.format(d=corpus) for a in args]
    argv += [] if "--target" in argv else ["--target", "en"]
    code = main([*argv, "--output", str(corpus / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: " + message.format(d=corpus)), err
    assert err.count("\n") == 1 and ray.is_initialized() == was_up


def test_config_model_settings_come_from_the_serve_file(corpus):
    from app.batch.cli import parse_args

    cfg = parse_args(
        [
            "--input",
            str(corpus / "a.txt"),
            "--output",
            str(corpus / "out"),
            "--target",
            "en",
            "--config",
            str(corpus / "serve.yaml"),
        ]
    )
    cfg, shards = prepare(cfg)
    assert cfg.model.name == "small" and cfg.model.device == "cpu" and [s.end for s in shards] == [2]


def _finished_job(tmp_path, translations: dict[str, list[str | None]]) -> tuple[list, object]:
    """Commit every shard of the input folder with the given translations per file, as the job would."""
    out = tmp_path / "out"
    shards = plan_shards(tmp_path / "in", block_rows=2)
    for shard in shards:
        rows = read_shard(shard)
        texts = translations[shard.relative][shard.start : shard.end]
        commit_shard(shard, out, render_output(shard, rows, texts, "translation"), [], {})
    return shards, out


def test_references_score_every_row_in_order(tmp_path):
    refs = [
        "The weather is nice today.",
        "Thank you for your help.",
        "Where is the train station?",
        "Good morning to everyone here.",
        "Please send me the report.",
    ]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("一\n二\n三\n")
    (tmp_path / "in" / "b.jsonl").write_text(json.dumps({"text": "四"}) + "\n{broken\n")
    (tmp_path / "refs.txt").write_text("\n".join(refs) + "\n")

    shards, out = _finished_job(tmp_path, {"a.txt": refs[:3], "b.jsonl": [refs[3], None]})
    perfect = Summary()
    score_references(perfect, shards, out, "translation", tmp_path / "refs.txt", "zh", "en")
    # The broken jsonl line has no output line: it is scored as an empty hypothesis in its place.
    assert perfect.bleu < 100 and perfect.chrf < 100

    (tmp_path / "refs.txt").write_text("\n".join(refs[:4] + [""]) + "\n")
    exact = Summary()
    score_references(exact, shards, out, "translation", tmp_path / "refs.txt", "zh", "en")
    assert exact.bleu == 100.0 and exact.chrf == 100.0

    shards, out = _finished_job(tmp_path, {"a.txt": [refs[2], refs[1], refs[0]], "b.jsonl": [refs[3], None]})
    shuffled = Summary()
    score_references(shuffled, shards, out, "translation", tmp_path / "refs.txt", "zh", "en")
    assert shuffled.bleu < 60 and shuffled.chrf < exact.chrf

    (tmp_path / "refs.txt").write_text("\n".join(refs[:3]) + "\n")
    with pytest.raises(ValueError, match="3 references for 5 output rows"):
        score_references(Summary(), shards, out, "translation", tmp_path / "refs.txt", "zh", "en")


def test_prepare_pins_the_plan_to_the_output_folder(corpus):
    cfg = BatchConfig(input=corpus / "a.txt", output=corpus / "out", target="EN", model=None, mode="service")
    cfg, _ = prepare(cfg)
    assert cfg.target == "en"
    with pytest.raises(ValueError, match="holds another job's output"):
        prepare(cfg.model_copy(update={"block_rows": 1}))

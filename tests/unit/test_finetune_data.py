"""Training data for app.finetune: the service's prompt, loss on the answer only, early clear errors."""

import pytest

from app.finetune import data
from app.translate import prompts


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


def _pair(text="我们明天见。", translation="See you tomorrow."):
    return data.Pair(text, translation, "zh", "en")


@pytest.mark.parametrize("style", ["plain", "few_shot"])
def test_completion_prompt_is_masked_and_answer_ends_the_line(tokenizer, style):
    example = data.encode(tokenizer, style, _pair(), data.end_of_answer_ids(tokenizer))
    prompt_ids = tokenizer.encode(prompts.translation_prompt(style, "我们明天见。", "zh", "en").text)
    n = len(prompt_ids)
    assert example.input_ids[:n] == prompt_ids  # exactly what the service sends
    assert example.labels[:n] == [data.IGNORE] * n
    assert example.labels[n:] == example.input_ids[n:]
    assert tokenizer.decode(example.input_ids[n:]) == " See you tomorrow.\n"


def test_chat_prompt_answer_ends_with_end_of_turn(tokenizer):
    end = data.end_of_answer_ids(tokenizer)
    example = data.encode(tokenizer, "chat", _pair(), end)
    answer = [t for t, label in zip(example.input_ids, example.labels) if label != data.IGNORE]
    assert answer[-1:] == end and tokenizer.convert_ids_to_tokens(end) == ["<|im_end|>"]
    assert tokenizer.decode(answer[:-1]) == "See you tomorrow."
    assert example.labels[0] == data.IGNORE


def test_encode_all_drops_examples_over_max_tokens(tokenizer):
    short, long = _pair(), _pair(translation="word " * 300)
    kept = data.encode_all(tokenizer, "plain", [short, long], max_tokens=128)
    assert len(kept) == 1 and len(kept[0].input_ids) <= 128


def test_clean_pairs_filters_and_dedups():
    pairs = [
        _pair(),
        _pair(),
        _pair("", "x"),
        _pair("同样", "同样"),
        _pair("短", "x" * 100),
        data.Pair("See you tomorrow.", "我们明天见。", "en", "zh"),
    ]
    kept = data.clean_pairs(pairs)
    assert kept == [_pair(), data.Pair("See you tomorrow.", "我们明天见。", "en", "zh")]


def test_both_directions_and_holdout(tmp_path):
    src, ref = tmp_path / "a.zh", tmp_path / "a.en"
    src.write_text("一\n二\n三\n四\n", encoding="utf-8")
    ref.write_text("one\ntwo\nthree\nfour\n", encoding="utf-8")
    pairs = data.pairs_from_files([(src, ref)], "zh", "en", both_directions=True)
    assert len(pairs) == 8 and pairs[1] == data.Pair("one", "一", "en", "zh")
    train, held = data.split_holdout(pairs, 0.25, seed=1)
    assert len(held) == 2 and len(train) == 6 and not set(held) & set(train)
    assert data.split_holdout(pairs, 0.25, seed=1) == (train, held)  # seeded


@pytest.mark.parametrize(
    "write, message",
    [
        (lambda d: None, "no such file"),
        (lambda d: ((d / "s").write_text("a\nb\n"), (d / "r").write_text("a\n")), "2 lines but"),
        (lambda d: ((d / "s").write_text(""), (d / "r").write_text("")), "is empty"),
        (lambda d: ((d / "s").write_bytes(b"\xff\xfe\n"), (d / "r").write_text("a\n")), "not UTF-8"),
    ],
)
def test_read_parallel_errors(tmp_path, write, message):
    write(tmp_path)
    with pytest.raises(data.DataError, match=message):
        data.read_parallel(tmp_path / "s", tmp_path / "r")


def test_unknown_language():
    with pytest.raises(data.DataError, match="--source: unknown language code 'xx'"):
        data.language("xx", "--source")

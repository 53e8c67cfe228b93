from pathlib import Path

import pytest

from app.tools.eval import bleu_tokenizer, read_lines, score, table

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def test_chinese_targets_use_the_zh_tokenizer():
    assert bleu_tokenizer("zh") == "zh" and bleu_tokenizer("zh-Hant") == "zh"
    assert bleu_tokenizer("en") == "13a" and bleu_tokenizer("ja") == "char"


def test_perfect_and_wrong_hypotheses_score_apart():
    refs = ["The weather is nice today.", "We will go to Beijing tomorrow."]
    best = score("ref", refs, refs, "zh", "en", 1.0)
    assert best.bleu == 100.0 and best.chrf == 100.0 and best.ter == 0.0
    bad = score("bad", ["Completely unrelated words.", "Nothing alike here."], refs, "zh", "en", 1.0)
    assert bad.bleu < 10 and bad.chrf < 30 and bad.ter > 50


def test_chinese_bleu_is_not_zero_for_a_close_match():
    # Without the zh tokenizer an unsegmented sentence is one "word" and any difference scores 0.
    result = score("s", ["今天天气很好。"], ["今天的天气很好。"], "en", "zh", 0.1)
    assert result.bleu > 30


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError):
        score("s", ["a"], ["a", "b"], "en", "de", 0.0)


def test_table_lists_every_system():
    rows = table([score("one", ["a b c"], ["a b c"], "en", "de", 0.5), score("two", ["x"], ["a b c"], "en", "de", 0.5)])
    assert "| one | en-de | 1 |" in rows and "| two | en-de | 1 |" in rows


@pytest.mark.skipif(not (DATA / "wmt21").is_dir(), reason="shared/data is not beside the checkout")
def test_wmt21_files_are_line_aligned():
    src = read_lines(DATA / "wmt21" / "newstest2021.zh-en.src.zh", None)
    ref = read_lines(DATA / "wmt21" / "newstest2021.zh-en.ref.A.en", None)
    assert len(src) == len(ref) == 1948 and read_lines(DATA / "wmt21" / "newstest2021.zh-en.src.zh", 5) == src[:5]

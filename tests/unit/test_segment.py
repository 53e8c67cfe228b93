import random
import re

import pytest

from app.translate.masking import spans
from app.translate.segment import Piece, protect, restore, split


def pairs(text, fmt="plain", max_chars=400):
    pieces = split(text, fmt, max_chars)
    assert "".join(p.text for p in pieces) == text
    return [(p.text, p.translate) for p in pieces]


def translatable(text, fmt="plain", max_chars=400):
    return [t for t, keep in pairs(text, fmt, max_chars) if keep]


DOCUMENTS = [
    "",
    "Hello.",
    "\n\n  \n",
    "# Title\n\nFirst paragraph. Second sentence!\n\n- item one\n- item two\n  1. nested\n",
    "Line one\r\nLine two\r\n\r\n(a) first\r\n(b) second",
    "一、总则\n（二）适用范围\n① 第一条。第二条！\n",
    "> quoted reply\n>> deeper\n\n* [x] done task\n+ plus item\n10) tenth\n",
    "```python\nprint('hi')  # not prose\n```\nAfter the fence.\n~~~\nunclosed fence with text",
    "---\ntitle: Hello\n---\n\n| Name | Description |\n|:-----|------------:|\n| `a` | The first one |\n",
    "Name | Value\n--- | ---\nport | The port to listen on\n",
    "<!DOCTYPE html><html><head><title>Hello there</title></head><body><p>Hi <b>you</b>.</p></body></html>",
    "<p>unclosed <b>bold\n<script>var s = '<p>not a tag</p>';",
    "a < b and c > d & e &amp; f <!-- c --> <br/> <x:tag attr='1.2'>text</x:tag>",
    "Tab\tseparated\tline\u3000with ideographic space\u00a0and nbsp\n\tindented",
]


@pytest.mark.parametrize("fmt", ["plain", "markdown", "html"])
@pytest.mark.parametrize("max_chars", [1, 7, 40, 400])
@pytest.mark.parametrize("text", DOCUMENTS)
def test_round_trip_on_documents(text, fmt, max_chars):
    pieces = split(text, fmt, max_chars)
    assert "".join(p.text for p in pieces) == text
    assert all(p.text for p in pieces)
    # structure is fused: never two untranslatable pieces in a row
    assert not any(not a.translate and not b.translate for a, b in zip(pieces, pieces[1:]))


def test_round_trip_on_random_inputs():
    atoms = list("abc XYZ 你好。，.!?…\n\r\t-*#>|`~<>/&;:()[]{}%s0123456789") + [
        "```",
        "<p>",
        "</p>",
        "<b>",
        "<pre>",
        "</pre>",
        "<!--",
        "-->",
        "http://a.b/c",
        "e.g.",
        "Dr.",
        "1. ",
        "- ",
        "| --- |",
        "\r\n",
        "&amp;",
        "<script>",
        "</script>",
        "⟦0⟧",
        "me@x.io",
        "{name}",
    ]
    rng = random.Random(1234)
    for _ in range(1500):
        text = "".join(rng.choice(atoms) for _ in range(rng.randint(0, 60)))
        for fmt in ("plain", "markdown", "html"):
            pieces = split(text, fmt, rng.choice([1, 5, 30, 400]))
            assert "".join(p.text for p in pieces) == text, (text, fmt)
            assert all(p.text for p in pieces)
            if fmt != "html":
                assert not any("\n" in p.text or "\r" in p.text for p in pieces if p.translate), (text, fmt)


def test_plain_structure_is_not_translated():
    text = "# Title\n\nHello world. This is fanyi.\n  - item one\n2. item two\n(a) first\n\n## Done ##"
    assert pairs(text) == [
        ("# ", False),
        ("Title", True),
        ("\n\n", False),
        ("Hello world. This is fanyi.", True),
        ("\n  - ", False),
        ("item one", True),
        ("\n2. ", False),
        ("item two", True),
        ("\n(a) ", False),
        ("first", True),
        ("\n\n## ", False),
        ("Done ##", True),
    ]  # closing hashes are Markdown's: app.files.markdown keeps them out (tests/unit/test_translate_formats.py)


def test_cjk_enumerations_and_crlf():
    assert translatable("一、总则\r\n（二）适用范围\r\n① 第一条") == ["总则", "适用范围", "第一条"]
    assert pairs("a\r\n\r\nb") == [("a", True), ("\r\n\r\n", False), ("b", True)]


@pytest.mark.parametrize(
    "text",
    [
        "3.14",
        "---",
        "  ",
        "!!! 42 ???",
        "⟦0⟧",
        "https://example.com/x",
        "me@example.org",
        "`make test`",
        "<br/>",
        "{count}",
        "2024-01-01 12:00",
        "😀 👍",
    ],
)
def test_pieces_without_words_are_not_translatable(text):
    assert all(not keep for _, keep in pairs(text))


def test_short_lines_are_not_split_into_sentences():
    assert translatable("Dr. Smith arrived. He sat down.") == ["Dr. Smith arrived. He sat down."]


def test_long_lines_split_into_packed_sentences():
    text = (
        "Dr. Smith moved to the U.S. in 2019, e.g. to work. He paid $3.14 for coffee! "
        "Was it good? See https://example.com/a.b?c=1. Write to j.doe@example.com. Done."
    )
    chunks = translatable(text, max_chars=60)
    assert chunks == [
        "Dr. Smith moved to the U.S. in 2019, e.g. to work.",
        "He paid $3.14 for coffee! Was it good?",
        "See https://example.com/a.b?c=1. Write to j.doe@example.com.",
        "Done.",
    ]
    assert all(len(c) <= 60 for c in chunks)


def test_cjk_sentences_need_no_space():
    text = "今天天气很好。我们去公园吧！你觉得呢？好的；走吧……然后呢"
    assert translatable(text, max_chars=8) == ["今天天气很好。", "我们去公园吧！", "你觉得呢？好的；", "走吧……然后呢"]


def test_a_sentence_longer_than_max_chars_breaks_at_clauses_then_spaces_then_hard():
    assert translatable("First clause, second clause; third part", max_chars=16) == [
        "First clause,",
        "second clause;",
        "third part",
    ]
    assert translatable("one two three four five six", max_chars=10) == ["one two", "three four", "five six"]
    assert translatable("这是一个没有任何标点符号的很长的句子", max_chars=6) == [
        "这是一个没有",
        "任何标点符号",
        "的很长的句子",
    ]


def test_urls_are_never_cut():
    url = "https://example.com/a/very/long/path/that/exceeds/the/limit"
    got = pairs(f"Read this: {url} now", max_chars=20)
    assert (f" {url} ", False) in got  # whole, and alone it is nothing to translate
    assert translatable(f"Read more at {url}. Now.", max_chars=30)[0] == "Read more at"


def test_markdown_units_are_split_line_by_line_as_plain_text():
    # A unit of app.files.markdown: a block's lines, its block markup (list marks, quote marks, table
    # pipes, fences) already outside; the segmenter only cuts lines and sentences. Block parsing is the
    # reader's (tests/unit/test_translate_formats.py holds the tests that were here: fences, tables,
    # front matter, closing hashes).
    assert pairs("Run `make` now\nand *wait*.", "markdown") == [
        ("Run `make` now", True),
        ("\n", False),
        ("and *wait*.", True),
    ]
    text = "```\ncode line\n```"  # a fence inside a unit cannot be one: the reader took fences out
    assert translatable(text, "markdown") == translatable(text, "plain") == ["code line"]


def test_html_units_are_one_run():
    # A unit of app.files.html: one run of text and inline tags between block boundaries. Tags are no
    # boundary here, whatever they are (block parsing is the reader's: see test_translate_formats.py).
    text = "  Line one<br>\nLine <p>two</p> &amp; more "
    assert pairs(text, "html") == [("  ", False), ("Line one<br>\nLine <p>two</p> &amp; more", True), (" ", False)]
    assert translatable("<code>--port</code>", "html") == []  # masked whole: no words left


def test_html_long_run_splits_outside_tags():
    text = 'See <a href="https://x.io/a.b. C">the docs</a>. Then run it. Finally stop.'
    assert translatable(text, "html", max_chars=50) == [
        'See <a href="https://x.io/a.b. C">the docs</a>.',
        "Then run it. Finally stop.",
    ]


def test_bad_arguments():
    with pytest.raises(ValueError, match="markdown"):
        split("x", "docx")
    with pytest.raises(ValueError):
        split("x", "plain", 0)
    assert split("x") == [Piece("x", True)]


def test_protect_masks_what_must_survive():
    masked = protect(
        "Visit https://example.com/path?x=1. Use `pip install` with {name}, ${HOME}, {{user}}, "
        "%s, %(count)d, %1$s or %.2f; mail me@x.org, see <b>bold</b> &amp; [link](docs/a.md)."
    )
    assert masked.text == (
        "Visit ⟦0⟧. Use ⟦1⟧ with ⟦2⟧, ⟦3⟧, ⟦4⟧, ⟦5⟧, ⟦6⟧, ⟦7⟧ or ⟦8⟧; mail ⟦9⟧, see ⟦10⟧bold⟦11⟧ ⟦12⟧ [link](⟦13⟧)."
    )
    assert masked.slots["⟦0⟧"] == "https://example.com/path?x=1"
    assert masked.slots["⟦13⟧"] == "docs/a.md"
    assert restore(masked.text, masked.slots) == (
        "Visit https://example.com/path?x=1. Use `pip install` with {name}, ${HOME}, {{user}}, "
        "%s, %(count)d, %1$s or %.2f; mail me@x.org, see <b>bold</b> &amp; [link](docs/a.md).",
        [],
    )


@pytest.mark.parametrize(
    "text",
    [
        "It costs 3.14 dollars, 50% off, 20%off today.",
        "Version 2.0.1 (build 7)",
        "Use {curly braces} in prose",
        "a < b and c > d",
    ],
)
def test_protect_leaves_numbers_and_prose_alone(text):
    assert protect(text).text == text and protect(text).slots == {}


def test_protect_url_edges():
    assert protect("(see https://en.wikipedia.org/wiki/Foo_(bar)).").slots == {
        "⟦0⟧": "https://en.wikipedia.org/wiki/Foo_(bar)"
    }
    assert protect("访问https://x.cn/a获取").text == "访问⟦0⟧获取"
    assert protect('<a href="https://x.io">x</a>').slots["⟦0⟧"] == '<a href="https://x.io">'


def test_protect_shares_a_slot_for_repeats_and_masks_code_elements_whole():
    masked = protect("{name} and {name} run <code>a < b</code>")
    assert masked.text == "⟦0⟧ and ⟦0⟧ run ⟦1⟧" and masked.slots["⟦1⟧"] == "<code>a < b</code>"


def test_protect_masks_literal_placeholders_so_restore_cannot_confuse_them():
    masked = protect("Wiki link [[3]] and ⟦0⟧ and https://a.io")
    assert masked.text == "Wiki link ⟦0⟧ and ⟦1⟧ and ⟦2⟧"
    assert restore(masked.text, masked.slots)[0] == "Wiki link [[3]] and ⟦0⟧ and https://a.io"


def test_restore_tolerates_mangled_placeholders():
    slots = {"⟦0⟧": "https://a.io", "⟦1⟧": "{name}", "⟦2⟧": "%s", "⟦3⟧": "`x`"}
    text, missing = restore("访问 ⟦ 0 ⟧，你好[[1]]，[ [2] ]，〚３〛", slots)
    assert text == "访问 https://a.io，你好{name}，%s，`x`" and missing == []


def test_restore_reports_dropped_and_removes_invented_placeholders():
    slots = {"⟦0⟧": "https://a.io", "⟦1⟧": "{name}", "⟦2⟧": "me@x.org"}
    text, missing = restore("Hello ⟦1⟧ ⟦7⟧ [[9]] ⟦1⟧", slots)
    assert text == "Hello {name}  [[9]] {name}"
    assert missing == ["⟦0⟧", "⟦2⟧"]


def test_restore_is_one_pass():
    # an original that itself looks like a placeholder is not expanded again
    assert restore("⟦0⟧ ⟦1⟧", {"⟦0⟧": "⟦1⟧", "⟦1⟧": "x"}) == ("⟦1⟧ x", [])


def test_protect_then_restore_gives_the_input_back():
    atoms = list("ab 你好.,:;()[]{}<>%`&#@/\n") + [
        "https://a.io/x?y=1",
        "me@x.io",
        "{name}",
        "%s",
        "%(n)d",
        "`code`",
        "<b>",
        "</b>",
        "&amp;",
        "[[2]]",
        "⟦0⟧",
        "〚1〛",
        "<code>x</code>",
        "](docs/a.md)",
        "50% off",
        "${HOME}",
        "{{user}}",
        "<!-- c -->",
    ]
    rng = random.Random(99)
    for i in range(3000):
        words = [rng.choice(atoms) for _ in range(rng.randint(0, 25))]
        text = ("" if i % 2 else " ").join(words)
        masked = protect(text)
        assert restore(masked.text, masked.slots) == (text, []), text
        if i % 2 == 0 and "`" not in text:  # separated by spaces, each of these is masked whole
            assert "https:" not in masked.text and "@x.io" not in masked.text and "{name}" not in masked.text


# The masking pattern as it was before it was made linear (issue 14): the spans must not change.
_REFERENCE = re.compile(
    "|".join(
        [
            r"(?:⟦|〚|\[\s*\[)\s*(\d+)\s*(?:⟧|〛|\]\s*\])",
            r"(?P<ticks>`+)(?!`)[^\n]+?(?<!`)(?P=ticks)(?!`)",
            r"<(?P<tag>code|kbd|samp|var|tt)\b[^>]*>.*?</(?P=tag)\s*>",
            r"<!--.*?-->",
            r"</?[A-Za-z][\w:.-]*(?:\s[^<>]*)?/?>",
            r"&(?:[A-Za-z][A-Za-z0-9]{1,31}|#\d{1,7}|#[xX][0-9A-Fa-f]{1,6});",
            r"(?<=\]\()[^()\s]+(?:\([^()\s]*\)[^()\s]*)*(?=[)\s])",
            r"(?P<url>(?:(?:https?|ftp)://|www\.)[!#-;=?-_a-~]+)",
            r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
            r"\{\{.*?\}\}|\$\{[^{}\n]*\}|\{[A-Za-z_0-9][\w.\-]*(?:[!:][^{}\n]*)?\}",
            r"%(?:\d+\$)?(?:\([A-Za-z_]\w*\))?[-+#0]*(?:\d+|\*)?(?:\.(?:\d+|\*))?(?:hh|h|ll|l|L|q|j|z|t)?"
            r"[diouxXeEfFgGcrsa@%](?![A-Za-z])",
        ]
    ),
    re.IGNORECASE | re.DOTALL,
)


def reference_spans(text):
    out = []
    for m in _REFERENCE.finditer(text):
        start, end = m.span()
        if m.group("url"):
            url = m[0].rstrip(".,;:!?'\"*_")
            while url[-1:] in (")", "]") and url.count("(["[url[-1] == "]"]) < url.count(url[-1]):
                url = url[:-1].rstrip(".,;:!?'\"*_")
            end = start + len(url)
        out.append((start, end))
    return out


def test_masked_spans_are_those_of_the_plain_pattern():
    atoms = list("ab Z09 你.,:;()[]{}<>%`&#@/\n-_+$!*'\"=?") + [
        "https://a.io/x?y=1",
        "http://",
        "www.",
        "me@x.io",
        "a@b.com_x@c.org",
        "{name}",
        "%s",
        "%d",
        "%05.2f",
        "%(n)d",
        "`code`",
        "``",
        "```",
        "<b>",
        "</b>",
        "&amp;",
        "&#x41;",
        "[[2]]",
        "⟦0⟧",
        "〚1〛",
        "<code>x</code>",
        "<CODE>",
        "</code >",
        "<kbd>",
        "](docs/a.md)",
        "](",
        "${HOME}",
        "{{user}}",
        "{{",
        "}}",
        "<!-- c -->",
        "<!--",
        "-->",
        "ſ",
        "K",
        "@x.io",
        ".com",
        "%",
        "0",
        "(",
        ")",
        "]",
    ]
    rng = random.Random(14)
    for i in range(6000):
        text = ("" if i % 2 else " ").join(rng.choice(atoms) for _ in range(rng.randint(0, 30)))
        assert spans(text) == reference_spans(text), text


@pytest.mark.parametrize(
    "text",
    [
        "1" * 3000,
        "a@" * 1500,
        "`" * 3000,
        "<!--" * 800,
        "{{" * 1500,
        "see http://x.io/" + ")" * 3000,
        "%" + "0" * 3000,
        "`a" * 1500,
    ],
)
def test_masked_spans_of_long_runs_are_those_of_the_plain_pattern(text):
    assert spans(text) == reference_spans(text)


def test_hard_cuts_step_back_over_at_most_30_combining_marks():
    assert translatable("abcdé" + "\u0301" * 3 + "fgh", max_chars=5) == ["abcd", "é\u0301\u0301\u0301f", "gh"]
    # More marks in a row than any grapheme has (UAX #15: 30) are not stepped over one by one back to the
    # letter: a MiB of them was a chunk per mark, each a walk back over max_chars.
    assert translatable("a" + "\u0301" * 100, max_chars=50) == ["a" + "\u0301" * 19]

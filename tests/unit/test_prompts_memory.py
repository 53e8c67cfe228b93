import dataclasses

from app.translate import prompts
from app.translate.memory import Entry, MemoryScope, TranslationMemory
from app.translate.postprocess import clean_piece, restore_placeholders


def test_chat_prompt_names_languages_and_glossary():
    p = prompts.translation_prompt("chat", "今天天气很好。", "zh", "en", {"天气": "weather"})
    assert p.text is None and p.stop == []
    system, user = p.messages
    assert system["role"] == "system" and user["role"] == "user"
    assert "Chinese" in user["content"] and "English" in user["content"]
    assert "天气 → weather" in user["content"] and user["content"].endswith("今天天气很好。")


def test_few_shot_prompt_for_base_models_ends_with_target_label():
    p = prompts.translation_prompt("few_shot", "早上好", "zh", "en")
    assert p.messages is None and p.stop == ["\n"]
    assert "Chinese: 今天天气很好。\nEnglish: The weather is nice today.\n" in p.text
    assert p.text.endswith("Chinese: 早上好\nEnglish:")


def test_few_shot_glossary_becomes_examples_and_unknown_pairs_still_work():
    p = prompts.translation_prompt("few_shot", "Hallo", "de", "sv", {"Haus": "hus"})
    assert p.text.startswith("German: Haus\nSwedish: hus\n") and p.text.endswith("German: Hallo\nSwedish:")


def _scope(**change) -> MemoryScope:
    fields = dict(
        caller="anonymous",
        model="m",
        adapter=None,
        prompt_style="chat",
        source="en",
        target="de",
        fmt="plain",
        glossary=(),
        temperature=0.0,
    )
    return MemoryScope(**{**fields, **change})


def test_memory_is_bounded_lru():
    mem, scope = TranslationMemory(2), _scope()
    mem.put(scope, "a", Entry("A", ()))
    mem.put(scope, "b", Entry("B", ()))
    assert mem.get(scope, "a").masked == "A"  # refreshes "a"
    mem.put(scope, "c", Entry("C", ()))
    assert mem.get(scope, "b") is None and mem.get(scope, "a") is not None and len(mem) == 2
    assert (
        TranslationMemory(0).put(scope, "a", Entry("A", ())) is False and TranslationMemory(0).get(scope, "a") is None
    )


# Each condition that changes a translation, with another value: a different key for each.
OTHER = dict(
    caller="key-1234abcd",
    model="m2",
    adapter="m-zh",
    prompt_style="few_shot",
    source="fr",
    target="zh",
    fmt="html",
    glossary=(("Ray", "雷"),),
    temperature=0.5,
)


def test_memory_key_covers_everything_that_changes_the_output():
    assert {f.name for f in dataclasses.fields(MemoryScope)} == set(OTHER)  # a new field needs a case here
    keys = {_scope().key("Hello.")} | {_scope(**{name: value}).key("Hello.") for name, value in OTHER.items()}
    assert len(keys) == 1 + len(OTHER)
    assert _scope().key("Hello.") == _scope().key("Hello.") != _scope().key("Hello!")
    assert len(_scope(glossary=tuple((str(i), "x" * 100) for i in range(200))).key("a")) == 32  # a digest


def test_memory_key_of_unencodable_text_is_a_key_not_an_error():
    # json.dumps(...).encode() raised UnicodeEncodeError here, outside the piece's error handling.
    scope = _scope(glossary=(("\udfff", "x"),))
    assert scope.key("hello \udfff world") != scope.key("hello \udffe world")


def test_memory_keeps_only_greedy_sound_translations():
    mem = TranslationMemory(10)
    sampled, greedy = _scope(temperature=2.0), _scope()
    assert mem.put(sampled, "a", Entry("garbage", ())) is False and mem.get(sampled, "a") is None
    for flags in (
        ("length_ratio",),
        ("empty", "untranslated"),
        ("glossary_missing:Ray",),
        ("placeholder_missing",),
        ("postprocess_unavailable",),
    ):
        assert mem.put(greedy, "a", Entry("doubtful", flags)) is False
    assert mem.get(greedy, "a") is None and len(mem) == 0
    repaired = ("chatter_removed", "echo_removed", "glossary_repaired:Ray", "quotes_removed", "truncated_continuation")
    assert mem.put(greedy, "a", Entry("fine", repaired)) is True and mem.get(greedy, "a").masked == "fine"


def test_dropped_placeholders_are_appended_not_lost():
    text, flags = restore_placeholders("Siehe hier.", {"⟦0⟧": "https://x.org"})
    assert text == "Siehe hier. https://x.org" and flags == ["placeholder_missing"]
    assert restore_placeholders("Siehe ⟦0⟧.", {"⟦0⟧": "https://x.org"}) == ("Siehe https://x.org.", [])


def test_clean_piece_keeps_source_when_output_is_empty():
    out = clean_piece("Hello ⟦0⟧", "\n\n\n", "de", None, {"⟦0⟧": "`x`"})
    assert out["text"] == "Hello `x`" and {"empty", "untranslated"} <= set(out["flags"])
    out = clean_piece("Hello", 'Here is the translation:\n\n"Hallo"', "de", None, {})
    assert out["text"] == "Hallo" and "chatter_removed" in out["flags"]


# Raw outputs the embedded Gemma 3 270M (base model) really produced on this project's prompts.
def test_cleanup_of_real_gemma_outputs():
    # Its chat fallback kept writing the next few-shot turns after the answer.
    out = clean_piece("早上好。", " 早上。\nEnglish:\nAssistant: 早上。\nEnglish:\n", "en", None, {})
    assert "English:" not in out["text"] and "Assistant" not in out["text"]
    # A one-example prompt made it continue with the example pair instead of stopping.
    out = clean_piece("Thank you.", " 你好。\nEnglish: Thank you.\nChinese:", "zh", None, {})
    assert out["text"] == "你好。" and "truncated_continuation" in out["flags"]
    # With the service's prompt and stop at the line end it answers cleanly; nothing changes.
    out = clean_piece("今天天气很好。", " The weather is nice today.", "en", None, {})
    assert out == {"text": "The weather is nice today.", "masked": "The weather is nice today.", "flags": []}

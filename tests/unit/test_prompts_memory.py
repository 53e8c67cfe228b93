from app import prompts
from app.memory import Entry, TranslationMemory
from deployments.postprocess import clean_piece, restore_placeholders


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


def test_memory_is_bounded_lru():
    mem = TranslationMemory(2)
    keys = [mem.key("m", "en", "de", None, s) for s in ("a", "b", "c")]
    assert len(set(keys)) == 3
    assert mem.key("m", "en", "de", {"x": "y"}, "a") != keys[0]  # the glossary is part of the key
    mem.put(keys[0], Entry("A", ()))
    mem.put(keys[1], Entry("B", ()))
    assert mem.get(keys[0]).masked == "A"  # refreshes "a"
    mem.put(keys[2], Entry("C", ()))
    assert mem.get(keys[1]) is None and mem.get(keys[0]) is not None and len(mem) == 2
    assert TranslationMemory(0).get(keys[0]) is None


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

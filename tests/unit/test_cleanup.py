import pytest

from app.translate import cleanup
from app.translate.cleanup import Cleaned, clean
from app.translate.languages import UnknownLanguage
from app.translate.postprocess import clean_piece
from app.translate.segment import protect, restore

# --- end to end, with outputs shaped like the models fanyi serves -----------------------------------------


@pytest.mark.parametrize(
    "source, output, target, text, flags",
    [
        # Qwen2.5-7B-Instruct: a lead-in and quotes
        (
            "早上好",
            'Here is the translation:\n\n"Good morning"',
            "en",
            "Good morning",
            ["chatter_removed", "quotes_removed"],
        ),
        (
            "Good morning.",
            "Sure! Here's the translation of the text into German:\n\nGuten Morgen.",
            "de",
            "Guten Morgen.",
            ["chatter_removed"],
        ),
        (
            "今天天气很好。",
            "以下是翻译：\n\nThe weather is nice today.",
            "en",
            "The weather is nice today.",
            ["chatter_removed"],
        ),
        (
            "The weather is nice today.",
            "好的，以下是翻译结果：\n今天天气很好。",
            "zh",
            "今天天气很好。",
            ["chatter_removed"],
        ),
        ("Good morning.", "**Translation:** Guten Morgen.", "de", "Guten Morgen.", ["chatter_removed"]),
        (
            "Good morning",
            '"Guten Morgen"\n\nNote: "Guten Morgen" is a common greeting in German.',
            "de",
            "Guten Morgen",
            ["chatter_removed", "quotes_removed"],
        ),
        (
            "早上好",
            'The translation of "早上好" in English is "Good morning".',
            "en",
            "Good morning",
            ["chatter_removed", "quotes_removed"],
        ),
        ("Thank you.", "「ありがとうございます。」", "ja", "ありがとうございます。", ["quotes_removed"]),
        ("print the value", "```\n打印该值\n```", "zh", "打印该值", ["quotes_removed"]),
        # Qwen3 (reasoning): a think block, or only its tail when the template opened it
        (
            "今天天气很好。",
            "<think>\nThe user wants me to translate this into English. 今天 means today...\n</think>\n\n"
            "The weather is nice today.",
            "en",
            "The weather is nice today.",
            ["chatter_removed"],
        ),
        (
            "今天天气很好。",
            "Okay, 今天 is today.\n</think>\n\nThe weather is nice today.",
            "en",
            "The weather is nice today.",
            ["chatter_removed"],
        ),
        (
            "Good morning.",
            "<think>\nLet me think about how a German speaker would greet",
            "de",
            "",
            ["chatter_removed", "empty"],
        ),
        # Gemma 3 270M prompted few-shot: it writes the next example, repeats itself, or echoes
        (
            "Good morning.",
            "Guten Morgen.\nEnglish: Thank you.\nGerman: Danke.",
            "de",
            "Guten Morgen.",
            ["truncated_continuation"],
        ),
        (
            "早上好。",
            " Good morning.\nChinese: 谢谢。\nEnglish: Thank you.",
            "en",
            "Good morning.",
            ["truncated_continuation"],
        ),
        (
            "Good morning.",
            "Guten Morgen.\n\nGuten Morgen.\n\nGuten Morgen.",
            "de",
            "Guten Morgen.",
            ["truncated_continuation"],
        ),
        (
            "Good morning.",
            "Guten Morgen.<end_of_turn>\n<start_of_turn>user\nTranslate",
            "de",
            "Guten Morgen.",
            ["truncated_continuation"],
        ),
        ("Good morning.", "German: Guten Morgen.", "de", "Guten Morgen.", ["chatter_removed"]),
        ("Good morning", "Good morning\nGuten Morgen", "de", "Guten Morgen", ["echo_removed"]),
        ("Good morning", "English: Good morning\nChinese: 早上好", "zh", "早上好", ["chatter_removed", "echo_removed"]),
        ("Good morning", "Good morning → Guten Morgen", "de", "Guten Morgen", ["echo_removed"]),
        # punctuation for the target
        (
            "The weather is nice today. Let's go to the park!",
            "今天天气很好. 我们去公园吧!",
            "zh",
            "今天天气很好。我们去公园吧！",
            [],
        ),
        (
            "Visit https://example.com/a.b?x=1 for version 3.14.",
            "请访问 https://example.com/a.b?x=1 了解 3.14 版本.",
            "zh",
            "请访问 https://example.com/a.b?x=1 了解 3.14 版本。",
            [],
        ),
        ("你好，世界。", "Hello，world。", "en", "Hello, world.", []),
        # nothing usable
        ("Good morning.", "", "de", "", ["empty"]),
        ("Good morning.", '""', "de", "", ["quotes_removed", "empty"]),
        ("Good morning.", "Good morning.", "de", "Good morning.", ["untranslated"]),
    ],
)
def test_clean_realistic_outputs(source, output, target, text, flags):
    assert clean(source, output, target) == Cleaned(text, flags)


def test_clean_works_on_masked_text_and_restores_after():
    masked = protect("See https://fanyi.dev/docs. Then run `make serve`.")
    result = clean(masked.text, 'Here is the translation:\n\n"请参阅 ⟦0⟧. 然后运行 ⟦1⟧."', "zh-CN")
    assert result.flags == ["chatter_removed", "quotes_removed"]
    assert restore(result.text, masked.slots) == ("请参阅 https://fanyi.dev/docs。然后运行 `make serve`。", [])


def test_clean_rejects_an_unknown_target():
    with pytest.raises(UnknownLanguage):
        clean("a", "b", "klingon")


def test_clean_keeps_multi_line_translations_of_multi_line_sources():
    source = "Step one.\nStep two.\nStep three."
    assert clean(source, "第一步。\n第二步。\n第三步。\n第四步。", "zh") == Cleaned(
        "第一步。\n第二步。\n第三步。", ["truncated_continuation"]
    )


# --- the steps one by one -------------------------------------------------------------------------------


def test_strip_think():
    assert cleanup.strip_think("<think>\n\n</think>\n\nBonjour.") == ("Bonjour.", True)
    assert cleanup.strip_think("<THINKING>a</THINKING>Hola") == ("Hola", True)
    assert cleanup.strip_think("Bonjour.") == ("Bonjour.", False)
    assert cleanup.strip_think("<think>never closed") == ("", True)


@pytest.mark.parametrize(
    "source, output, expected",
    [
        ("Hello", "Translation: 你好", "你好"),
        ("Hello", "翻译：你好", "你好"),
        ("Hello", "译文：\n你好", "你好"),
        ("Hello", "Certainly! Here is the Chinese translation:\n你好", "你好"),
        ("Hello", "Here's the translation into Japanese: こんにちは", "こんにちは"),
        ("Hello", "Chinese (Simplified): 你好", "你好"),
        ("Hello", "In German: Hallo", "Hallo"),
        ("Hello", "Voici la traduction : Bonjour", "Bonjour"),
        ("Hello", "Hier ist die Übersetzung:\n\nHallo", "Hallo"),
        ("Hello", "以下は翻訳です：\nこんにちは", "こんにちは"),
        ("Hello", "Вот перевод: Привет", "Привет"),
        ("Hello.", "Hallo.\n\n(Note: this is informal.)", "Hallo."),
        ("Hello.", "Hallo.\n\n---\n\nNote: This is informal.", "Hallo."),
        ("Hello.", "Hallo. (Note: informal)", "Hallo."),
        ("Hello.", "Hallo.\nI hope this helps!", "Hallo."),
    ],
)
def test_strip_chatter_removes(source, output, expected):
    assert cleanup.strip_chatter(output, source) == (expected, True)


@pytest.mark.parametrize(
    "source, output",
    [
        ("Here is the list:\n1. Apples", "以下是清单：\n1. 苹果"),  # the lead-in was in the source
        ("Translation: the act of translating", "翻译：翻译的行为"),  # so was the label
        ("Translation:", "翻译："),  # nothing would be left
        ("Note: back up first.\nThen upgrade.", "注：先备份。\n然后升级。"),  # notes that are content
        ("OK, let's go.", "OK, los geht's."),
        ("Press the button (note: hold it).", "Drücken Sie die Taste (Hinweis: gedrückt halten)."),
        ("Do it (Note: carefully)", "Mach es (Note: vorsichtig)"),  # the source had the same note
        ("Good morning.", "Guten Morgen."),
    ],
)
def test_strip_chatter_keeps_content(source, output):
    assert cleanup.strip_chatter(output, source) == (output, False)


def test_strip_quotes():
    assert cleanup.strip_quotes('"Guten Morgen".', "Good morning.") == ("Guten Morgen.", True)
    assert cleanup.strip_quotes('"Guten Morgen".', "Good morning") == ("Guten Morgen", True)
    assert cleanup.strip_quotes("“『你好』”", "Hello") == ("你好", True)
    assert cleanup.strip_quotes("`Hallo`", "Hello") == ("Hallo", True)
    assert cleanup.strip_quotes("```text\nHallo\n```", "Hello") == ("Hallo", True)
    # kept: the source was quoted, or the quotes are not one pair around everything
    assert cleanup.strip_quotes("„Hallo“", '"Hello"') == ("„Hallo“", False)
    assert cleanup.strip_quotes('"A" und "B"', "A and B") == ('"A" und "B"', False)
    assert cleanup.strip_quotes("《三体》", "The Three-Body Problem") == ("《三体》", False)
    assert cleanup.strip_quotes('"', "x") == ('"', False)


def test_cut_continuation():
    assert cleanup.cut_continuation("Hallo.\nSource: Bye.\nTarget: Tschüss.", "Hello.") == ("Hallo.", True)
    assert cleanup.cut_continuation("Hallo.\n**English:** Bye.", "Hello.") == ("Hallo.", True)
    assert cleanup.cut_continuation("Hallo.\n\nWelt.", "Hello.\n\nWorld.") == ("Hallo.\n\nWelt.", False)
    assert cleanup.cut_continuation("Hallo<|im_end|>", "Hello") == ("Hallo", True)
    # labels the source has too are content ("Q:"/"A:" dialogue)
    assert cleanup.cut_continuation("F: Wie?\nA: So.", "Q: How?\nA: Like this.") == ("F: Wie?\nA: So.", False)


def test_strip_echo():
    assert cleanup.strip_echo("Good morning 早上好", "Good morning") == ("早上好", True)
    assert cleanup.strip_echo("Good morning = Guten Morgen", "Good morning") == ("Guten Morgen", True)
    # a translation that merely starts like the source is not an echo
    assert cleanup.strip_echo("Python ist toll", "Python") == ("Python ist toll", False)
    assert cleanup.strip_echo("Good morning", "Good morning") == ("Good morning", False)


@pytest.mark.parametrize(
    "text, target, expected",
    [
        ("今天天气很好, 我们去公园吧!", "zh", "今天天气很好，我们去公园吧！"),
        ("我喜欢Python.", "zh", "我喜欢Python。"),
        ("时间:12:30", "zh", "时间：12:30"),
        ("版本号是3.14, 对吗?", "zh", "版本号是3.14，对吗？"),
        (
            "请访问 https://a.io/x.y?q=1, 然后发邮件给 a.b@c.io.",
            "zh",
            "请访问 https://a.io/x.y?q=1，然后发邮件给 a.b@c.io。",
        ),
        ("运行 `ls -l; pwd` 命令.", "zh", "运行 `ls -l; pwd` 命令。"),
        ("使用 (可选) 参数", "zh", "使用（可选）参数"),
        ("使用 (optional) 参数", "zh", "使用 (optional) 参数"),
        ("等等...", "zh", "等等……"),
        ("東京 は 晴れ です.", "ja", "東京は晴れです。"),
        ("Hello, world. Version 3.14!", "zh", "Hello, world. Version 3.14!"),  # Latin text stays Latin
        ("Hallo，Welt。Wie geht's？", "de", "Hallo, Welt. Wie geht's?"),
        ("Preis：３．１４ Euro（netto）", "de", "Preis: 3.14 Euro (netto)"),
        ("Hello  world,  again", "en", "Hello world, again"),
        ("안녕하세요。반갑습니다！", "ko", "안녕하세요. 반갑습니다!"),
        ("Visit https://a.io/path,x", "en", "Visit https://a.io/path,x"),
    ],
)
def test_normalize_punctuation(text, target, expected):
    assert cleanup.normalize_punctuation(text, target) == expected


@pytest.mark.parametrize(
    "source, text, target, flags",
    [
        ("Good morning, how are you?", "Guten Morgen, wie geht es dir?", "de", []),
        ("Good morning.", "good morning", "de", ["untranslated"]),
        ("今天天气很好，我们去公园吧。", "今天天气很好，我们去公园吧。", "en", ["untranslated"]),
        ("今天天气很好，我们去公园吧。", "今日は天気がいいですね。", "en", ["untranslated"]),  # still CJK for English
        (
            "The server restarts every night at midnight.",
            "The server restarts every night at noon.",
            "de",
            ["untranslated"],
        ),
        ("The weather is nice today.", "今天天气很好。", "zh", []),  # 26 Latin chars vs 7 Han: fine
        ("今天天气很好。", "The weather is really nice today.", "en", []),
        ("今天天气很好，我们去公园吧。", "Nice.", "en", ["length_ratio"]),
        ("Hi", "Hallo! " + "Ich freue mich sehr, dich heute hier zu sehen. " * 3, "de", ["length_ratio"]),
        ("No", "Nein, danke", "de", []),  # short texts differ a lot without meaning anything
        ("3.14", "3.14", "de", []),
        ("Good morning.", "", "de", ["empty"]),
        ("", "", "de", []),
    ],
)
def test_quality_flags(source, text, target, flags):
    assert cleanup.quality_flags(source, text, target) == flags


def test_check_glossary():
    source = "Deploy it with Ray Serve on Kubernetes."
    output = "使用 Ray Serve 将其部署到 Kubernetes 上。"
    glossary = {"Ray Serve": "Ray Serve", "Kubernetes": "K8s", "deploy": "部署", "GPU": "显卡"}
    assert cleanup.check_glossary(source, output, glossary) == (
        "使用 Ray Serve 将其部署到 K8s 上。",
        ["glossary_repaired:Kubernetes"],
    )


def test_check_glossary_flags_what_it_cannot_repair():
    source = "The replica restarts; Ray Serve keeps the router."
    output = "副本重新启动；Ray 服务保留路由器。"
    glossary = {"replica": "副本实例", "Ray Serve": "Ray Serve", "router": "路由器"}
    assert cleanup.check_glossary(source, output, glossary) == (
        output,
        ["glossary_missing:Ray Serve", "glossary_missing:replica"],
    )  # longest terms first


def test_check_glossary_matches_words_not_substrings_and_protects_other_terms():
    # "Ray" inside "array" is not the term; "Ray" inside the required "Ray Serve" is not a copy to replace
    assert cleanup.check_glossary("Sort the array.", "对数组排序。", {"Ray": "雷"}) == ("对数组排序。", [])
    assert cleanup.check_glossary(
        "Ray and Ray Serve", "Ray Serve 和 Ray Serve", {"Ray": "雷", "Ray Serve": "Ray Serve"}
    ) == ("Ray Serve 和 Ray Serve", ["glossary_missing:Ray"])
    assert cleanup.check_glossary("The CLUSTER uses Ray.", "集群使用 ray。", {"ray": "雷", "cluster": "集群"}) == (
        "集群使用 雷。",
        ["glossary_repaired:ray"],
    )


def test_clean_with_glossary_tidies_around_the_repair():
    result = clean("The cluster uses Ray.", "集群使用 Ray.", "zh", {"Ray": "雷"})
    assert result == Cleaned("集群使用雷。", ["glossary_repaired:Ray"])


# --- HTML-format units: the output is text, its markup travels in placeholders -----------------------------

XSS = "<img src=x onerror=alert(1)>"


def test_glossary_value_repaired_into_html_is_escaped():
    # The model copied the term, the check put the required translation in: live markup before the fix.
    result = clean("Hello ⟦0⟧world⟦1⟧.", "Hallo ⟦0⟧world⟦1⟧.", "de", {"world": XSS}, fmt="html")
    assert (
        result.text == "Hallo ⟦0⟧&lt;img src=x onerror=alert(1)&gt;⟦1⟧." and "glossary_repaired:world" in result.flags
    )
    assert clean("Hello world.", "Hallo world.", "de", {"world": XSS}).text == f"Hallo {XSS}."  # plain stays plain


def test_clean_piece_escapes_html_output_and_restores_the_tags():
    masked = protect('Hello <b>dear</b> <a href="https://x.org">friend</a> & co.')
    out = clean_piece(masked.text, f"Hallo ⟦0⟧{XSS}⟦1⟧ ⟦2⟧Freund⟦3⟧ & Co.", "de", None, masked.slots, "html")
    assert out["text"] == 'Hallo <b>&lt;img src=x onerror=alert(1)&gt;</b> <a href="https://x.org">Freund</a> &amp; Co.'
    assert out["masked"].startswith("Hallo ⟦0⟧&lt;img")  # what the memory keeps, under an html key
    empty = clean_piece(masked.text, "\n", "de", None, masked.slots, "html")  # nothing usable: the source stays
    assert empty["text"] == 'Hello <b>dear</b> <a href="https://x.org">friend</a> & co.'

import pickle

import pytest

from app.errors import InvalidRequest
from app.translate import languages
from app.translate.languages import UnknownLanguage

REQUIRED = "en zh zh-Hans zh-Hant ja ko de fr es it pt ru ar hi vi th id tr pl nl uk cs sv".split()


def test_table_has_every_required_language_once():
    codes = [lang["code"] for lang in languages.all_languages()]
    assert sorted(codes) == sorted(REQUIRED) and len(set(codes)) == len(codes)
    assert all(set(lang) == {"code", "name"} and lang["name"] for lang in languages.all_languages())


@pytest.mark.parametrize(
    "given, expected",
    [
        ("en", "en"),
        ("EN", "en"),
        (" de ", "de"),
        ("zh", "zh"),
        ("ZH-hans", "zh-Hans"),
        ("zh_hant", "zh-Hant"),
        ("zh-CN", "zh-Hans"),
        ("zh_SG", "zh-Hans"),
        ("zh-TW", "zh-Hant"),
        ("zh-hk", "zh-Hant"),
        ("zh-Hant-TW", "zh-Hant"),
        ("zh-Hans-HK", "zh-Hans"),  # an explicit script beats the region
        ("zh-US", "zh"),
        ("en-US", "en"),
        ("en_GB", "en"),
        ("pt-BR", "pt"),
        ("es-419", "es"),
        ("sv-SE", "sv"),
        ("Chinese", "zh"),
        ("german", "de"),
        ("Traditional Chinese", "zh-Hant"),
    ],
)
def test_normalize_accepts_codes_regions_and_names(given, expected):
    assert languages.normalize(given) == expected


@pytest.mark.parametrize("bad", ["", "xx", "klingon", "en-", "e", "english-US", "zh--CN", "en-US!", "iw", None, 7])
def test_normalize_rejects_everything_else_listing_the_valid_codes(bad):
    with pytest.raises(UnknownLanguage) as err:
        languages.normalize(bad)
    assert isinstance(err.value, ValueError)
    assert "zh-Hant" in str(err.value) and "sv" in str(err.value)


def test_unknown_language_is_a_client_error_that_survives_ray():
    err = pickle.loads(pickle.dumps(languages._unknown("xx")))
    assert isinstance(err, UnknownLanguage) and isinstance(err, InvalidRequest)
    assert err.status_code == 400 and err.to_body()["error"]["code"] == "unsupported_language"


def test_unknown_language_error_quotes_a_bounded_safe_code():
    with pytest.raises(UnknownLanguage) as err:
        languages.normalize("x" * 15000 + "\udfff")
    message = err.value.message
    assert len(message) < 400 and "xxxx" in message and "…" in message  # not 15 KB of input back
    with pytest.raises(UnknownLanguage) as err:
        languages.normalize("de\ud800")
    assert "\\ud800" in err.value.message  # escaped: the message encodes, the code is still recognisable
    err.value.message.encode("utf-8")


def test_names_and_script_families():
    assert languages.name("zh-CN") == "Chinese (Simplified)"
    assert languages.name("zh-tw") == "Chinese (Traditional)"
    assert languages.name("pt-BR") == "Portuguese"
    assert languages.script_family("ru") == "cyrillic" and languages.script_family("ja") == "japanese"
    assert [c for c in REQUIRED if languages.is_cjk(c)] == ["zh", "zh-Hans", "zh-Hant", "ja", "ko"]
    with pytest.raises(UnknownLanguage):
        languages.name("xx")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("今天天气很好，我们去公园吧。", "zh"),
        ("今日はいい天気ですね。公園に行きましょう。", "ja"),
        ("東京都は日本の首都です。", "ja"),  # kanji-heavy, but the kana decide
        ("오늘 날씨가 좋네요.", "ko"),
        ("Сегодня хорошая погода, пойдём в парк.", "ru"),
        ("Сьогодні гарна погода, ходімо в парк. Їжак є.", "uk"),
        ("الطقس جميل اليوم", "ar"),
        ("आज मौसम अच्छा है।", "hi"),
        ("วันนี้อากาศดีมาก", "th"),
        ("The weather is nice today, and we are going to the park.", "en"),
        ("Das Wetter ist heute schön und wir gehen in den Park.", "de"),
        ("Je ne sais pas ce que vous voulez dire.", "fr"),
        ("¿Dónde está la biblioteca? No lo sé.", "es"),
        ("Questo è il mio libro e non lo voglio dare.", "it"),
        ("Eu não sei o que você quer dizer.", "pt"),
        ("Ik weet niet wat je bedoelt, maar het is goed.", "nl"),
        ("Hôm nay thời tiết đẹp quá.", "vi"),
        ("Dzień dobry, jak się masz?", "pl"),
        ("Bugün hava çok güzel, dışarı çıkalım.", "tr"),
        ("Jag vet inte vad du menar och det är bra.", "sv"),
        ("Saya tidak tahu apa yang kamu maksud.", "id"),
        ("Hello 世界和平", "zh"),  # a few Han characters outweigh a short Latin word
        ("", "en"),
        ("12345 !!!", "en"),
        ("Kubernetes", "en"),
    ],
)
def test_detect(text, expected):
    assert languages.detect(text) == expected


def test_dominant_script_and_char_script():
    assert languages.dominant_script("3.14 + 2") is None
    assert languages.dominant_script("Привет world, привет") == "cyrillic"
    assert languages.char_script("ア") == "kana" and languages.char_script("字") == "han"
    assert languages.char_script("é") == "latin" and languages.char_script("7") is None

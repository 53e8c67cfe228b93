"""The web page at `/`, driven end to end in headless Chromium against the real app.

Debian's `chromium` and `chromium-driver` (`make browser` installs them) are driven by Selenium; no
browser is downloaded. The page's `fetch` is wrapped to record what it sent, so each test checks both
what the page shows and the request it made. The models are tiny random ones: the translations are
gibberish, so the tests check structure (streaming finished, language detected, timings kept), not words.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
# Root, offline, no GPU, small /dev/shm: the flags headless Chromium needs on a build machine.
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1000",
    "--lang=en-US",
]
TRANSLATE_TIMEOUT = 180
SRT = """1
00:00:01,000 --> 00:00:03,000
今天天气很好。

2
00:00:04,000 --> 00:00:06,500
我们去公园散步吧。
"""

# Wraps window.fetch to record each request (JSON or form fields) and its response's status and type.
RECORD_FETCH = """
window.__requests = [];
const original = window.fetch;
window.fetch = function (input, init = {}) {
  const entry = {url: String(input), method: init.method || "GET", body: null};
  if (typeof init.body === "string") entry.body = JSON.parse(init.body);
  else if (init.body instanceof FormData) entry.body = Object.fromEntries([...init.body].map(
    ([k, v]) => [k, typeof v === "string" ? v : "file:" + v.name]));
  window.__requests.push(entry);
  const pending = original.call(this, input, init);
  pending.then((r) => { entry.status = r.status; entry.contentType = r.headers.get("content-type"); },
               (e) => { entry.error = String(e); });
  return pending;
};
"""

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="needs Debian's chromium and chromium-driver: run `make browser`",
)


@pytest.fixture(scope="module")
def driver():
    profile = tempfile.mkdtemp(prefix="fanyi-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture()
def page(driver, base_url):
    """The page, loaded fresh, with its pickers filled and fetch recorded."""
    driver.get(base_url + "/")
    WebDriverWait(driver, 30).until(
        lambda d: options(d, "model") and options(d, "target-lang") or d.find_element(By.ID, "error").is_displayed()
    )
    assert not driver.find_element(By.ID, "error").is_displayed(), driver.find_element(By.ID, "error").text
    driver.execute_script(RECORD_FETCH)
    yield driver
    # Uncaught exceptions and console.error calls; failed requests (source "network") are expected.
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and e.get("source") != "network"]
    assert not errors, errors


def options(driver, select_id: str) -> list[str]:
    return [o.get_attribute("value") for o in driver.find_elements(By.CSS_SELECTOR, f"#{select_id} option")]


def text(driver, element_id: str) -> str:
    return driver.find_element(By.ID, element_id).get_attribute("textContent").strip()


def requests(driver, path: str) -> list[dict]:
    return [r for r in driver.execute_script("return window.__requests") if r["url"].endswith(path)]


def wait_translated(driver) -> str:
    """Wait until the translation finished ('done') or an error is shown ('error')."""

    def settled(d):
        if d.find_element(By.ID, "error").is_displayed():
            return "error"
        done = d.find_element(By.ID, "translate").is_enabled() and text(d, "detected") not in ("", "–")
        return "done" if done else False

    return WebDriverWait(driver, TRANSLATE_TIMEOUT, poll_frequency=0.2).until(settled)


def test_pickers_come_from_the_api(page, base_url):
    languages = [lang["code"] for lang in httpx.get(base_url + "/v1/languages").json()["data"]]
    models = [m["id"] for m in httpx.get(base_url + "/v1/models").json()["data"]]
    assert options(page, "source-lang") == ["", *languages]
    assert page.find_element(By.CSS_SELECTOR, "#source-lang option").text == "Detect"
    assert options(page, "target-lang") == languages
    assert Select(page.find_element(By.ID, "target-lang")).first_selected_option.get_attribute("value") == "en"
    assert options(page, "model") == models == ["tiny", "tiny-zh", "tiny-hf", "tiny-hf-zh"]


def test_text_translation_streams_and_finishes(page):
    page.find_element(By.ID, "source").send_keys("今天天气很好。")
    Select(page.find_element(By.ID, "target-lang")).select_by_value("en")
    Select(page.find_element(By.ID, "model")).select_by_value("tiny")
    page.find_element(By.ID, "glossary-add").click()
    page.find_element(By.CSS_SELECTOR, ".glossary-row input.term").send_keys("天气")
    page.find_element(By.CSS_SELECTOR, ".glossary-row input.translation").send_keys("weather")
    page.find_element(By.ID, "translate").click()
    assert page.find_element(By.ID, "stop").is_enabled() or text(page, "detected") != "–"

    assert wait_translated(page) == "done", text(page, "error")
    assert text(page, "output")
    assert text(page, "detected") == "zh"
    assert not page.find_element(By.ID, "stop").is_enabled()
    assert "prompt" in text(page, "usage")
    for badge in page.find_elements(By.CSS_SELECTOR, "#flags .badge"):
        assert badge.text.strip()
    [sent] = requests(page, "/v1/translate")
    assert sent["method"] == "POST" and sent["status"] == 200
    assert sent["contentType"].startswith("text/event-stream")
    assert sent["body"] == {
        "text": "今天天气很好。",
        "source_lang": None,
        "target_lang": "en",
        "model": "tiny",
        "format": "plain",
        "stream": True,
        "glossary": {"天气": "weather"},
    }
    ARTIFACTS.mkdir(exist_ok=True)
    page.save_screenshot(str(ARTIFACTS / "web-page.png"))


def test_empty_text_shows_the_server_error(page, base_url):
    page.find_element(By.ID, "source").clear()
    page.find_element(By.ID, "translate").click()
    assert wait_translated(page) == "error"
    [sent] = requests(page, "/v1/translate")
    assert sent["status"] == 400
    # The same body sent directly: the page shows the server's own message, verbatim.
    resp = httpx.post(base_url + "/v1/translate", json=sent["body"], timeout=30)
    assert resp.status_code == 400
    message = resp.json()["error"]["message"]
    assert message and text(page, "error") == message
    assert page.find_element(By.ID, "error").get_attribute("role") == "alert"
    assert text(page, "output") == ""


def test_file_translation_keeps_srt_timings(page, tmp_path):
    subtitles = tmp_path / "talk.srt"
    subtitles.write_text(SRT, encoding="utf-8")
    Select(page.find_element(By.ID, "model")).select_by_value("tiny-hf")
    page.find_element(By.ID, "glossary-add").click()
    page.find_element(By.CSS_SELECTOR, ".glossary-row input.term").send_keys("公园")
    page.find_element(By.CSS_SELECTOR, ".glossary-row input.translation").send_keys("park")
    page.find_element(By.ID, "file").send_keys(str(subtitles))

    link = page.find_element(By.ID, "download")
    WebDriverWait(page, TRANSLATE_TIMEOUT, poll_frequency=0.2).until(
        lambda d: link.get_attribute("href") or d.find_element(By.ID, "error").is_displayed()
    )
    assert not page.find_element(By.ID, "error").is_displayed(), text(page, "error")
    assert link.is_displayed() and link.get_attribute("href").startswith("blob:")
    name = link.get_attribute("download")
    assert name.endswith(".srt"), name
    assert name in text(page, "file-status") and "B)" in text(page, "file-status")

    [sent] = requests(page, "/v1/translate/file")
    assert sent["status"] == 200
    assert sent["body"] == {
        "file": "file:talk.srt",
        "target_lang": "en",
        "model": "tiny-hf",
        "glossary": json.dumps({"公园": "park"}, ensure_ascii=False, separators=(",", ":")),
    }
    translated = page.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0]).then((r) => r.text()).then(done, (e) => done('FETCH FAILED: ' + e));",
        link.get_attribute("href"),
    )
    lines = translated.splitlines()
    assert "00:00:01,000 --> 00:00:03,000" in lines, translated
    assert "00:00:04,000 --> 00:00:06,500" in lines, translated
    assert lines[0] == "1" and "2" in lines, translated
    ARTIFACTS.mkdir(exist_ok=True)
    page.save_screenshot(str(ARTIFACTS / "web-page-file.png"))

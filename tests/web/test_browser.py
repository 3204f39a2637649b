"""The web view in a real browser: headless Chromium (Debian's chromium + chromium-driver)
through Selenium, against a real `hcpcs-tx serve` process over the 2019 + 2020 releases.

Typeahead driven with the keyboard, a code page, a terminated code and its replacement, the
release page, visible focus and text contrast; screenshots of the search box with its
suggestions open, a code page and a release page are saved to a temporary folder, or to
docs/screenshots/ (the README shows them) when HCPCS_TX_SCREENSHOTS=docs, so that a
test run does not rewrite tracked files. Skipped when Chromium, its driver or Selenium is
missing, except under CI=true, where that is a failure (.ci/run installs Chromium).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

PROJECT = Path(__file__).resolve().parents[2]
SCREENSHOTS = (
    PROJECT / "docs" / "screenshots"
    if os.environ.get("HCPCS_TX_SCREENSHOTS") == "docs"
    else Path(tempfile.gettempdir()) / "hcpcs-tx-screenshots"
)
ENTRY = Path(sys.executable).with_name("hcpcs-tx")
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--lang=en-US",
)
WAIT = 10  # seconds for anything to appear


def _require(found: bool, what: str) -> None:
    if not found:
        if os.environ.get("CI"):
            pytest.fail(f"{what} is required under CI (.ci/run installs it)")
        pytest.skip(f"{what} is not installed")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(web_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`hcpcs-tx --db <copy of the test store> serve` on a free port; yields its URL."""
    if not ENTRY.exists():
        pytest.fail(f"server entry point {ENTRY} not installed (pip install -e .)")
    folder = tmp_path_factory.mktemp("web-server")
    store = folder / "store.sqlite3"
    shutil.copy(web_db, store)
    port = _free_port()
    log = folder / "server.log"
    command = [str(ENTRY), "--db", str(store), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    pytest.fail(f"server exited with {process.returncode}: {log.read_text()}")
                try:
                    if httpx.get(f"{base}/r4/metadata", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"server not up after 60 s: {log.read_text()}")
                time.sleep(0.2)
            httpx.get(f"{base}/code/J0120", timeout=30)  # builds the page catalog once
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    _require(CHROMIUM.exists() and CHROMEDRIVER.exists(), f"{CHROMIUM} and {CHROMEDRIVER}")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _require(False, "selenium (pip install -e '.[test]')")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="hcpcs-tx-chromium-")
    for flag in (*FLAGS, f"--user-data-dir={profile}", "--window-size=1280,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _wait(driver, condition):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT).until(condition)


def _screenshot(driver, name: str, height: int = 0) -> None:
    """Save SCREENSHOTS/<name>.png: the viewport, or the page up to height pixels."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    if height:
        full = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1280, min(int(full), height))
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
    driver.set_window_size(1280, 900)


def test_typeahead_by_keyboard_leads_to_the_code_page(browser, server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(f"{server}/")
    box = browser.find_element(By.ID, "q")
    assert box.get_attribute("role") == "combobox"
    assert box.get_attribute("aria-expanded") == "false"
    listbox = browser.find_element(By.ID, box.get_attribute("aria-controls"))
    assert listbox.get_attribute("role") == "listbox"

    box.send_keys("skin sub")
    options = _wait(
        browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#q-suggestions [role=option]")
    )
    _wait(
        browser,
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "#q-suggestions [role=option]")) == 8,
    )
    assert box.get_attribute("aria-expanded") == "true"
    status = browser.find_element(By.CSS_SELECTOR, "[role=status]")
    assert status.get_attribute("textContent").startswith("8 suggestions")
    box.send_keys(Keys.ARROW_DOWN, Keys.ARROW_DOWN)
    options = browser.find_elements(By.CSS_SELECTOR, "#q-suggestions [role=option]")
    assert box.get_attribute("aria-activedescendant") == options[1].get_attribute("id")
    assert [o.get_attribute("aria-selected") for o in options[:3]] == ["false", "true", "false"]
    box.send_keys(Keys.ARROW_UP, Keys.ARROW_UP)  # wraps around to the last
    assert box.get_attribute("aria-activedescendant") == options[-1].get_attribute("id")
    box.send_keys(Keys.ARROW_DOWN, Keys.ARROW_DOWN, Keys.ARROW_DOWN)
    _screenshot(browser, "search-typeahead")
    box.send_keys(Keys.ESCAPE)
    assert box.get_attribute("aria-expanded") == "false" and not listbox.is_displayed()

    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("tetracyc")
    _wait(
        browser,
        lambda d: d.find_element(By.CSS_SELECTOR, "#q-suggestions [role=option]").text.startswith(
            "J0120"
        ),
    )
    box.send_keys(Keys.ARROW_DOWN, Keys.ENTER)
    _wait(browser, lambda d: d.current_url.endswith("/code/J0120"))
    assert (
        browser.find_element(By.TAG_NAME, "h1").text
        == "J0120 Injection, tetracycline, up to 250 mg"
    )
    betos = browser.find_element(
        By.XPATH, "//table[@class='properties']//tr[th/code='betos']/td[1]"
    )
    assert betos.text == "O1E (Other drugs)"
    _screenshot(browser, "code-page", height=2400)


def test_enter_without_a_suggestion_submits_the_search(browser, server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(f"{server}/")
    box = browser.find_element(By.ID, "q")
    box.send_keys("tetracycline")
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#q-suggestions [role=option]"))
    box.send_keys(Keys.ENTER)
    _wait(browser, lambda d: "q=tetracycline" in d.current_url)
    first = browser.find_element(By.CSS_SELECTOR, "table.codes tbody tr th a")
    assert first.text == "J0120"


def test_terminated_code_links_to_its_replacement_and_the_release_page(browser, server):
    from selenium.webdriver.common.by import By

    browser.get(f"{server}/code/C9408")
    notice = browser.find_element(By.CSS_SELECTOR, ".notice.terminated")
    assert "its last day of use was 2019-12-31" in notice.text
    notice.find_element(By.LINK_TEXT, "A9590").click()
    _wait(browser, lambda d: d.current_url.endswith("/code/A9590"))
    assert "Replaces" in browser.find_element(By.CSS_SELECTOR, "dl.summary").text

    browser.get(f"{server}/release/2020-01")
    counts = browser.find_element(By.CSS_SELECTOR, "table.counts").text
    assert "Added 279" in counts and "Terminated 89" in counts
    _screenshot(browser, "release-page", height=1500)


CONTRAST = (Path(__file__).with_name("contrast.js")).read_text()
FOCUS = (
    "const e = document.activeElement, s = getComputedStyle(e);"
    "return [e.tagName, e.textContent.trim().slice(0, 20), s.outlineStyle,"
    " parseFloat(s.outlineWidth)];"
)


def test_text_contrast_and_visible_keyboard_focus(browser, server):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    for path in ("/", "/code/C9408", "/release/2020-01", "/ValueSet/hcpcs-betos-O1E-2020-01"):
        browser.get(f"{server}{path}")
        ratio, element = browser.execute_script(CONTRAST)
        assert ratio >= 4.5, f"{path}: contrast {ratio:.2f} for {element}"  # WCAG AA
    browser.get(f"{server}/")
    seen = []
    for _ in range(8):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        style = browser.execute_script(FOCUS)
        seen.append(style[:2])
        assert style[2] != "none" and style[3] >= 2, f"focus not visible on {style}"
    assert seen[0] == ["A", "Skip to content"]
    assert ["INPUT", ""] in seen  # the search box is reached by keyboard

"""The class report in a real browser: headless Chromium opens ``index.html`` (a static page, no
server), reads the named mistakes, follows a link to a student's feedback page and saves a
screenshot of each as a test artifact.

Skipped, with the reason, where Chromium or its driver is absent; never skipped in CI (``CI`` set),
where ``.ci/run`` installs them.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from autograder.reports import write_reports
from autograder.results import CaseResult, QuestionResult, UnitResult

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
DRIVER = "chromedriver"


def _browser_or_skip() -> tuple[str, str]:
    """Paths of the Chromium binary and its driver; skip (fail in CI) when either is missing."""
    binary = next((path for name in CHROMIUM if (path := shutil.which(name))), None)
    driver = shutil.which(DRIVER) or ("/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None)
    try:
        import selenium  # noqa: F401
    except ImportError:
        selenium_missing = True
    else:
        selenium_missing = False
    missing = [what for what, ok in (("chromium", binary), ("chromedriver", driver), ("selenium", not selenium_missing))
               if not ok]
    if missing:
        reason = f"needs {', '.join(missing)} (Debian: apt-get install chromium chromium-driver; pip install selenium)"
        if os.environ.get("CI"):
            pytest.fail(f"in CI the browser test must run: {reason}")
        pytest.skip(reason)
    return binary, driver


@pytest.fixture
def browser(tmp_path):
    binary, driver = _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1280,1600"):
        options.add_argument(flag)
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    yield chrome
    chrome.quit()


def _student(name: str, mistake: str, hidden_mistake: str) -> UnitResult:
    formula = QuestionResult("q1_formula", 0.0, 5.0, [
        CaseResult("test_public", "q1_formula", 0.0, 2.0, False, False, f"CheckFailed: got 30: {mistake}", mistake),
        CaseResult("test_hidden", "q1_formula", 0.0, 3.0, True, False, "", hidden_mistake),
    ])
    shapes = QuestionResult("q1_shapes", 4.0, 4.0, [CaseResult("test_shapes", "q1_shapes", 4.0, 4.0, False, True, "")])
    return UnitResult(name, "01_layers", "ok", 4.0, 9.0, [formula, shapes], code_cells=["x = 1"])


def test_class_report_opens_in_chromium_and_links_to_feedback(browser, tmp_path):
    from selenium.webdriver.common.by import By

    out = tmp_path / "out"
    results = [_student("ada", "padding on one side only", "stride updated before the size"),
               _student("ben", "padding on one side only", ""),
               _student("dev", "padding on one side only", "stride updated before the size"),
               UnitResult("lee", "01_layers", "missing", 0.0, 9.0)]
    write_reports(results, out)

    browser.get((out / "index.html").as_uri())
    assert browser.title == "Class report"
    mistakes = {
        item.find_element(By.CLASS_NAME, "mistake").text: int(item.find_element(By.CLASS_NAME, "count").text)
        for item in browser.find_elements(By.CSS_SELECTOR, 'li[data-question="q1_formula"] li')
    }
    assert mistakes == {"padding on one side only": 3, "stride updated before the size": 2}
    index_shot = out / "index.png"
    browser.save_screenshot(str(index_shot))

    browser.find_element(By.LINK_TEXT, "ada").click()
    assert browser.current_url.endswith("/feedback/ada/01_layers.html")
    assert "Question 1.1" in browser.page_source
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "padding on one side only" in body and "stride updated" not in body  # hidden names stay out
    feedback_shot = out / "feedback-ada.png"
    browser.save_screenshot(str(feedback_shot))
    for shot in (index_shot, feedback_shot):
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        print(f"screenshot: {shot}")


def test_a_missing_browser_fails_in_ci_instead_of_skipping(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(Path, "exists", lambda self: False)
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="in CI the browser test must run"):
        _browser_or_skip()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="needs chromium, chromedriver"):
        _browser_or_skip()

"""Acceptance: the report of a trained model renders in headless Chromium with the network cut.

Chromium and its driver come from the Debian packages `chromium` and `chromium-driver`, which
scripts/test.sh installs when missing. Under CI a missing browser fails the test (a skipped
acceptance test proves nothing); elsewhere it is skipped.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

# Every figure: its SVG is laid out with a size, and holds drawn marks with a non-empty box.
DRAWN = """
return Array.from(document.querySelectorAll('figure.chart')).map(f => {
  const s = f.querySelector('svg'); const r = s ? s.getBoundingClientRect() : {width: 0, height: 0};
  const marks = s ? Array.from(s.querySelectorAll('path, line, rect, use, text')) : [];
  const box = s ? s.getBBox() : {width: 0, height: 0};
  return {chart: f.dataset.chart, width: r.width, height: r.height, marks: marks.length, bbox: box.width * box.height};
});
"""


def _browser() -> tuple[str, str]:
    found = [shutil.which(n) for n in ("chromium", "chromium-browser")]
    binary, driver = next((b for b in found if b), None), shutil.which("chromedriver")
    if binary and driver:
        return binary, driver
    why = "Chromium or chromedriver not installed (apt-get install chromium chromium-driver; scripts/test.sh does it)"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(why, pytrace=False)
    pytest.skip(why)


def _driver(binary: str, driver: str) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1366,900",
                '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost',  # the network is cut: no name resolves
                "--disable-background-networking", "--disable-component-update", "--no-first-run"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return webdriver.Chrome(options=options, service=Service(executable_path=driver))


def _requests(browser: Any) -> list[str]:
    """URLs of every request the page made, from the DevTools network log."""
    urls = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls  # data: URLs are inline content, not requests that leave the page


def _screenshot(browser: Any, path: Path) -> bytes:
    """A full-page PNG through the DevTools protocol (beyond the window's height)."""
    shot = browser.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    data = base64.b64decode(shot["data"])
    path.write_bytes(data)
    return data


@pytest.mark.slow
def test_report_renders_offline_in_chromium(churn_project: Path, tmp_path: Path) -> None:
    """Check that every figure of the report draws in headless Chromium and that no request leaves the page."""
    from PIL import Image

    binary, driver = _browser()
    page = churn_project / "report.html"
    browser = _driver(binary, driver)
    try:
        browser.get(page.resolve().as_uri())
        figures = browser.execute_script(DRAWN)
        resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        requests = _requests(browser)
        png = _screenshot(browser, tmp_path / "report.png")
    finally:
        browser.quit()
    assert len(figures) >= 10 and len(figures) == page.read_text().count("<figure class=\"chart\"")
    blank = [f for f in figures if f["width"] < 100 or f["height"] < 80 or f["marks"] < 5 or f["bbox"] <= 0]
    assert not blank, blank
    assert resources == []
    assert [u for u in requests if not u.startswith("data:")] == [page.resolve().as_uri()], requests
    image = Image.open(io.BytesIO(png)).convert("L")
    assert image.height > 2000 and image.getextrema()[0] < 100  # a tall page with dark ink, not a blank screen

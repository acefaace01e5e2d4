"""Opening a report page in a real browser: Debian's chromium, headless, driven by Playwright (no
downloaded browser). What a person would see: the console's errors, each plot's drawn size, a
screenshot kept in test-artifacts/ at the repository root."""

from __future__ import annotations

import shutil
from pathlib import Path

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def open_page(path: Path, screenshot: str) -> dict:
    """{"errors": console errors and page errors, "plots": {id: (width, height)}, "requests": URLs
    fetched besides the page itself, "missing": ids of missing-part notes, "screenshot": path}."""
    from playwright.sync_api import sync_playwright

    browser_path = shutil.which("chromium")
    assert browser_path, "Debian's chromium is needed (scripts/ensure-tools.sh installs it)"
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url) if r.url != path.as_uri() else None)
            page.goto(path.as_uri(), wait_until="load", timeout=60_000)
            plots = {}
            for figure in page.locator("figure.plot").all():
                box = figure.locator("svg").bounding_box()
                plots[figure.get_attribute("id")] = (box["width"], box["height"]) if box else (0, 0)
            missing = [m.get_attribute("id") for m in page.locator(".missing").all()]
            shot = ARTIFACTS / screenshot
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    return {"errors": errors, "plots": plots, "requests": requests, "missing": missing, "screenshot": shot}

"""A headless Chromium page 375 px wide (a small phone) on a URL: what the train and edge page tests share."""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

import pytest

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS


@contextlib.contextmanager
def phone_page(url: str, timeout_ms: int = 30_000) -> Iterator[tuple[Any, Any, list[str]]]:
    """(page, browser context, console errors); skips when Chromium or Playwright is missing."""
    if not CHROMIUM.exists():
        pytest.skip("Chromium not installed: run infra/ci/install_browser.sh")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (dev extra) not installed")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        ctx = browser.new_context(viewport={"width": 375, "height": 800})
        pg = ctx.new_page()
        pg.set_default_timeout(timeout_ms)
        errors: list[str] = []
        pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        pg.goto(url)
        try:
            yield pg, ctx, errors
        finally:
            browser.close()

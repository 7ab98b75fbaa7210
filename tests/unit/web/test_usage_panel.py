"""After sign-in the page shows the token's own usage (GET /v1/usage), announced to screen
readers, refreshed after each run; a rate-limit 429 reads differently from a spent quota."""
from __future__ import annotations

import re

from functions.api.routes_web import STATIC_DIR

APP_JS = (STATIC_DIR / "app.js").read_text()
INDEX = (STATIC_DIR / "index.html").read_text()


def test_the_usage_panel_is_inside_the_signed_in_part_and_announced():
    app_part = INDEX[INDEX.index('<div id="app" hidden>'):]
    assert re.search(r'<p id="usage-summary" aria-live="polite">', app_part)
    assert 'id="usage-refresh"' in app_part


def test_the_page_asks_the_usage_route_at_sign_in_and_after_each_run():
    assert 'api("GET", "v1/usage")' in APP_JS
    sign_in = APP_JS[APP_JS.index("async function signIn"):APP_JS.index("function signOut")]
    assert "loadUsage()" in sign_in
    for handler in ("async function onClassify", "async function onSimilarity"):
        body = APP_JS[APP_JS.index(handler):]
        assert "loadUsage();" in body[:body.index("catch (err)")]


def test_the_summary_uses_the_routes_fields():
    for field in ("u.today", "u.quota_per_day", "today.remaining", "u.month.texts", "u.month.requests"):
        assert field in APP_JS
    assert "rate-limited" in APP_JS  # a rate-limit 429 is explained apart from the daily quota

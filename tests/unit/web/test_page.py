"""The web page is served from packaged assets, with no CDN, and is built to be accessible."""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from flask import Flask

from functions.api.routes_web import STATIC_DIR, web_blueprint


@pytest.fixture()
def client(tmp_path):
    app = Flask(__name__)
    app.register_blueprint(web_blueprint(cost_file=tmp_path / "cost.json"))
    app.config["cost_path"] = tmp_path / "cost.json"
    return app.test_client()


def test_index_is_served_with_a_strict_policy(client):
    resp = client.get("/")
    assert resp.status_code == 200
    assert resp.mimetype == "text/html"
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert b"Serverless NLP" in resp.data


@pytest.mark.parametrize("name, mimetype", [("app.js", "text/javascript"), ("app.css", "text/css")])
def test_assets_are_served(client, name, mimetype):
    resp = client.get(f"/app/{name}")
    assert resp.status_code == 200
    assert resp.mimetype in (mimetype, "application/javascript")


def test_unknown_assets_and_traversal_are_refused(client):
    assert client.get("/app/index.html").status_code == 404
    assert client.get("/app/..%2Fapp.js").status_code == 404
    assert client.get("/app/routes_web.py").status_code == 404


def test_cost_file_is_optional(client, tmp_path):
    assert client.get("/app/cost.json").status_code == 404  # the page then shows "n/a"
    (tmp_path / "cost.json").write_text(json.dumps({"models": []}))
    resp = client.get("/app/cost.json")
    assert resp.status_code == 200 and resp.get_json() == {"models": []}


def test_no_external_resources_anywhere():
    """Offline: no CDN, no external font, no absolute URL in any asset."""
    for path in STATIC_DIR.iterdir():
        text = path.read_text()
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), path.name
        assert "@import" not in text and "url(http" not in text, path.name


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.controls: list[dict] = []
        self.label_for: set[str] = set()
        self.live: list[dict] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("input", "textarea", "select"):
            self.controls.append(a)
        if tag == "label" and "for" in a:
            self.label_for.add(a["for"])
        if "aria-live" in a or a.get("role") in ("status", "alert"):
            self.live.append(a)


def test_every_control_has_a_label_and_results_are_announced():
    parser = _Collect()
    html = (STATIC_DIR / "index.html").read_text()
    parser.feed(html)
    assert parser.controls
    for control in parser.controls:
        assert control.get("id") in parser.label_for or control.get("aria-label"), control
    live_ids = {a.get("id") for a in parser.live}
    assert {"classify-result", "similarity-result", "batch-status", "notice"} <= live_ids
    assert 'name="viewport"' in html and "lang=" in html


def test_css_has_focus_styles_and_a_phone_layout():
    css = (STATIC_DIR / "app.css").read_text()
    assert ":focus-visible" in css
    assert "@media (max-width" in css


def test_the_api_app_serves_the_page_without_a_token():
    """Registered in create_app: public page and assets; the API behind it still needs a token."""
    from functions.api.app import create_app
    from functions.settings import Settings

    class NoTokens:
        def authenticate(self, token):
            raise AssertionError("the page must not need a token")

    app = create_app(Settings(), store=object(), tokens=NoTokens())
    client = app.test_client()
    assert client.get("/").status_code == 200
    assert client.get("/app/app.css").status_code == 200
    assert client.get("/v1/models").status_code == 401

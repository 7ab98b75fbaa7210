"""The running local stack (the same infra.local code as `make up`) and a headless Chromium.

The stack starts once per session on free ports with its state in a temporary directory.
Browser: Debian's /usr/bin/chromium (infra/ci/install_browser.sh) driven by Playwright; test
tools' own browser downloads do not work here. Screenshots go to test-artifacts/e2e/.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from infra.local import LocalStack, StackOptions
from infra.local.preflight import free_port
from infra.local.stack import DEFAULT_MODELS

REPO = Path(__file__).resolve().parents[2]
DIST = REPO / "model_artifacts" / "dist"
ARTIFACTS = REPO / "test-artifacts" / "e2e"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def _dist() -> Path:
    """The built models; SNLP_E2E_DIST points at another build (e.g. tiny models while debugging)."""
    return Path(os.environ.get("SNLP_E2E_DIST") or DIST)


def _require_models() -> None:
    missing = [n for n in DEFAULT_MODELS if not (_dist() / n / "aliases.json").is_file()]
    if missing:
        pytest.skip(f"default models not built ({', '.join(missing)}): run `make models` first")


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    _require_models()
    state = tmp_path_factory.mktemp("local-stack")
    lines: list[str] = []
    st = LocalStack(StackOptions(state_dir=state, api_port=free_port(), moto_port=free_port(),
                                 dist=_dist(), echo=lines.append, ready_timeout_s=180))
    st.up()
    yield st
    st.down()


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Chromium not installed: run infra/ci/install_browser.sh")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (dev extra) not installed")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser, stack, request):
    ctx = browser.new_context(accept_downloads=True, viewport={"width": 1200, "height": 900})
    pg = ctx.new_page()
    pg.set_default_timeout(30_000)
    pg.goto(stack.api_url + "/")
    yield pg
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    ctx.close()


def sign_in(pg, token: str) -> None:
    pg.get_by_label("Access token").fill(token)
    pg.get_by_role("button", name="Sign in").click()
    pg.locator("#app").wait_for(state="visible")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

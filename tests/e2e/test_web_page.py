"""The web page, driven by headless Chromium against the running local stack with the real models."""
from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS, read_jsonl, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.models]

POSITIVE = "I absolutely love this phone, it is wonderful and works perfectly!"


def test_sign_in_shows_the_tools_and_the_catalog(page, stack):
    sign_in(page, stack.token)
    rows = page.locator("#catalog-table tbody tr")
    rows.first.wait_for()
    text = page.locator("#catalog-table").inner_text()
    assert "sentiment" in text and "minilm-embed" in text
    assert "prod" in text and "int8" in text
    assert "% accuracy" in text and "fidelity 0.9" in text  # test-split accuracy; cosine vs PyTorch
    # the token stays in this tab only
    assert page.evaluate("sessionStorage.getItem('snlp.token')") == stack.token
    assert page.get_by_role("link", name="API documentation").get_attribute("href") == "docs"


def test_usage_shows_after_sign_in_and_grows_with_a_run(page, stack):
    sign_in(page, stack.token)
    summary = page.locator("#usage-summary")
    # expect() polls from Playwright's own script world: the page's CSP (no eval) cannot block it,
    # as it blocks a string wait_for_function whenever that has to poll
    expect(summary).to_have_text(re.compile(r"^Today:"), timeout=30_000)
    before = summary.inner_text()
    assert "a day" in before and "This month" in before, before
    page.get_by_label("Text", exact=True).fill(POSITIVE)
    page.get_by_role("button", name="Classify").click()
    page.locator("#classify-result .bars li").first.wait_for()
    expect(summary).not_to_have_text(before, timeout=30_000)
    assert summary.inner_text().startswith("Today:")


def test_wrong_token_gets_a_plain_message_and_the_page_keeps_working(page, stack):
    page.get_by_label("Access token").fill("snlp_this-is-not-a-real-token")
    page.get_by_role("button", name="Sign in").click()
    msg = page.locator("#signin-msg")
    msg.wait_for(state="visible")
    assert "token was not accepted" in msg.inner_text()
    assert page.locator("#app").is_hidden()
    page.screenshot(path=str(ARTIFACTS / "wrong_token_message.png"))
    sign_in(page, stack.token)  # then the right one works in the same page
    assert page.locator("#signin-msg").inner_text() == ""


def test_classify_shows_label_bars(page, stack):
    sign_in(page, stack.token)
    page.get_by_label("Text", exact=True).fill(POSITIVE)
    page.get_by_role("button", name="Classify").click()
    bars = page.locator("#classify-result .bars li")
    bars.first.wait_for()
    labels = [bars.nth(i).get_attribute("data-label") for i in range(bars.count())]
    assert sorted(labels) == ["negative", "neutral", "positive"]
    assert labels[0] == "positive"  # highest first
    pcts = [float(bars.nth(i).locator(".pct").inner_text().rstrip(" %")) for i in range(bars.count())]
    assert sum(pcts) == pytest.approx(100, abs=0.3)  # softmax, rounded to 0.1 % each
    assert "Most likely: positive" in page.locator("#classify-result").inner_text()


def test_similarity_ranks_a_paraphrase_above_an_unrelated_text(page, stack):
    sign_in(page, stack.token)

    def score(a: str, b: str) -> float:
        page.evaluate("document.querySelector('#similarity-result').replaceChildren()")
        page.get_by_label("First text").fill(a)
        page.get_by_label("Second text").fill(b)
        page.get_by_role("button", name="Compare").click()
        page.locator("#similarity-result > *").first.wait_for()
        assert page.locator("#similarity-score").count() == 1, page.locator("#similarity-result").inner_text()
        return float(page.locator("#similarity-score").get_attribute("data-score"))

    close = score("The cat sits on the mat.", "A cat is sitting on a mat.")
    far = score("The cat sits on the mat.", "Quarterly revenue grew by eight percent.")
    assert -1.0 <= far < close <= 1.0
    assert close > 0.7  # MiniLM paraphrase pairs score high
    assert "similar" in page.locator("#similarity-result").inner_text()


def test_batch_upload_progress_and_download(page, stack, tmp_path):
    sign_in(page, stack.token)
    src = tmp_path / "reviews.jsonl"
    lines = [{"id": "a", "text": POSITIVE}, {"id": "b", "text": "This is the worst service I have ever had."},
             {"id": "c", "text": ""}, {"id": "d", "text": "The package arrived on Tuesday."}]
    src.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    page.select_option("#batch-model", "sentiment")
    page.get_by_label("File (.csv or .jsonl)").set_input_files(str(src))
    page.get_by_role("button", name="Upload and run").click()
    page.get_by_text("Done:").wait_for(timeout=180_000)
    assert "3 lines processed, 1 could not be processed" in page.locator("#batch-text").inner_text()
    assert page.locator("#batch-progress").get_attribute("value") == "100"
    with page.expect_download() as info:
        page.get_by_role("link", name="Download results").click()
    saved = tmp_path / info.value.suggested_filename
    info.value.save_as(saved)
    results = read_jsonl(saved)
    assert [r.get("id") for r in results if "id" in r][:2] == ["a", "b"]
    assert len(results) >= 3
    with page.expect_download() as info:
        page.get_by_role("link", name="Download the list of problem lines").click()
    errors = tmp_path / "errors.jsonl"
    info.value.save_as(errors)
    [err] = read_jsonl(errors)
    assert err.get("line") == 3


def test_too_long_text_gets_a_plain_message(page, stack):
    sign_in(page, stack.token)
    page.get_by_label("Text", exact=True).fill("word " * 5000)
    page.get_by_role("button", name="Classify").click()
    alert = page.locator("#classify-result [role=alert]")
    alert.wait_for()
    assert "too long" in alert.inner_text()
    page.get_by_label("Text", exact=True).fill(POSITIVE)  # still works afterwards
    page.get_by_role("button", name="Classify").click()
    page.locator("#classify-result .bars li").first.wait_for()


def test_unavailable_service_and_failed_upload_get_plain_messages(page, stack, tmp_path):
    sign_in(page, stack.token)
    page.route("**/v1/classify", lambda route: route.fulfill(
        status=503, content_type="application/problem+json",
        body=json.dumps({"type": "x/model-unavailable", "title": "Model unavailable", "status": 503})))
    page.get_by_label("Text", exact=True).fill(POSITIVE)
    page.get_by_role("button", name="Classify").click()
    page.locator("#classify-result [role=alert]").wait_for()
    assert "not available right now" in page.locator("#classify-result").inner_text()

    page.route(f"{stack.moto_url}/**", lambda route: route.abort())  # the presigned upload fails
    src = tmp_path / "a.csv"
    src.write_text("text\nhello\n")
    page.get_by_label("File (.csv or .jsonl)").set_input_files(str(src))
    page.get_by_role("button", name="Upload and run").click()
    page.get_by_text("The upload failed").wait_for()
    assert page.get_by_role("button", name="Upload and run").is_enabled()


def test_keyboard_only_sign_in(page, stack):
    page.keyboard.press("Tab")  # skip link
    page.keyboard.press("Tab")  # API documentation
    for _ in range(5):
        if page.evaluate("document.activeElement.id") == "token":
            break
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "token"
    page.keyboard.type(stack.token)
    page.keyboard.press("Enter")
    page.locator("#app").wait_for(state="visible")
    assert page.evaluate("document.activeElement.id") == "classify-text"


def test_phone_sized_screen_has_no_sideways_scrolling(browser, stack):
    ctx = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    pg = ctx.new_page()
    pg.goto(stack.api_url + "/")
    sign_in(pg, stack.token)
    pg.locator("#catalog-table tbody tr").first.wait_for()
    assert pg.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / "phone.png"), full_page=True)
    ctx.close()


def test_batch_stopped_at_the_daily_quota_says_so_and_offers_what_ran(page, stack, tmp_path):
    import time

    import boto3

    from functions.auth.admin import create_token
    from functions.auth.usage import add_usage, utc_day

    table = stack.created.names["tokens_table"]
    ddb = boto3.client("dynamodb", endpoint_url=stack.moto_url, region_name="us-east-1", aws_access_key_id="testing",
                       aws_secret_access_key="testing", aws_session_token="testing")
    # a quota of 5: the 4 declared lines are admitted, then another client's use leaves room for 2
    token, record = create_token(ddb, table, owner="small", models="*", quota_per_day=5)
    spent: list[int] = []

    def spend_then_upload(route):  # once, while the file is on its way
        if not spent:
            spent.append(add_usage(ddb, table, record.token_id, utc_day(time.time()), texts=3, requests=1)["texts"])
        route.continue_()

    sign_in(page, token)
    src = tmp_path / "four.jsonl"
    src.write_text("".join(json.dumps({"id": i, "text": f"{POSITIVE} {i}"}) + "\n" for i in range(4)))
    page.select_option("#batch-model", "sentiment")
    page.get_by_label("File (.csv or .jsonl)").set_input_files(str(src))
    page.route(f"{stack.moto_url}/**", spend_then_upload)
    page.get_by_role("button", name="Upload and run").click()
    page.get_by_text("Stopped at your daily quota").wait_for(timeout=180_000)
    assert spent == [7] and "after 2 lines" in page.locator("#batch-text").inner_text()
    with page.expect_download() as info:
        page.get_by_role("link", name="Download the results so far").click()
    saved = tmp_path / info.value.suggested_filename
    info.value.save_as(saved)
    assert [r["id"] for r in read_jsonl(saved)] == [0, 1]

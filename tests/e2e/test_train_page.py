"""The training page in headless Chromium, on the tiny artifacts behind the real app (moto in process,
waitress, a thread draining the train queue like the train Lambda): a CSV file uploaded, trained with
progress, evaluated, published, then the new model answers /v1/classify; at 375 px wide and by
keyboard. Writes test-artifacts/e2e/train_evaluation.png (the README's screenshot comes from here)."""
from __future__ import annotations

import threading
import time

import pytest

from tests.e2e.conftest import ARTIFACTS
from tests.e2e.phone import phone_page
from tests.support.train_stack import train_stack
from tests.unit.train.test_pipeline import NEG, POS

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
ROWS = "\n".join(f"{t}{' very' * i},{label}" for i in range(3)
                 for label, texts in (("positive", POS), ("negative", NEG)) for t in texts)


@pytest.fixture()
def site(tiny_registry, tmp_path):  # function scope: after the autouse fake-AWS environment
    from waitress import create_server

    with train_stack(tiny_registry, tmp_path) as st:
        server = create_server(st.runtime.app, host="127.0.0.1", port=0, threads=4)
        threading.Thread(target=server.run, daemon=True).start()
        stop = threading.Event()

        def work() -> None:  # the train Lambda: poll the queue, run each step
            while not stop.is_set():
                if not st.drain():
                    time.sleep(0.2)

        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        token, _ = st.token("page-user")
        yield f"http://127.0.0.1:{server.effective_port}", token, st
        stop.set()
        worker.join(10)
        server.close()


@pytest.fixture()
def page(site):
    with phone_page(site[0] + "/") as (pg, _ctx, _errors):
        yield pg


def test_rows_to_published_model_by_keyboard_at_375px(page, site):
    url, token, st = site
    page.get_by_label("Access token").fill(token)
    page.keyboard.press("Enter")
    page.locator("#app").wait_for(state="visible")
    page.locator("#train-base option").first.wait_for(state="attached")
    assert page.locator("#train-base option").all_inner_texts() == ["tiny-embed"]  # embedding models only

    page.get_by_label("Name of your classifier").fill("page-reviews")
    page.get_by_label("CSV file (text,label)").set_input_files(
        files=[{"name": "reviews.csv", "mimeType": "text/csv", "buffer": ("text,label\n" + ROWS).encode()}])
    page.locator("#train-rows").focus()
    page.keyboard.press("Tab")  # from the rows, the keyboard reaches Train next (descriptions are hidden)
    assert page.evaluate("document.activeElement.id") == "train-submit"
    page.keyboard.press("Enter")

    page.locator("#train-eval").wait_for(state="visible")
    assert page.evaluate("document.activeElement.id") == "train-eval-h"  # focus moves to the results
    headline = page.locator("#train-headline").inner_text()
    assert headline.startswith("Accuracy ") and "macro-F1" in headline
    assert page.locator("#train-perlabel tbody tr").count() == 2
    assert page.locator("#train-confusion tbody tr").count() == 2
    assert "Training finished." in page.locator("#train-text").inner_text()
    # nothing overflows the 375 px viewport sideways (wide tables scroll inside their own region)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator("#train").screenshot(path=str(ARTIFACTS / "train_evaluation.png"))

    page.locator("#train-publish").focus()
    page.keyboard.press("Enter")
    page.locator("#train-published", has_text="Published as").wait_for()
    assert "page-reviews@" in page.locator("#train-published").inner_text()

    # the new model is offered in the classify box at once, and answers there
    page.locator("#classify-model option[value=page-reviews]").wait_for(state="attached")
    page.locator("#classify-model").select_option("page-reviews")
    page.get_by_label("Text", exact=True).fill("good movie")
    page.get_by_role("button", name="Classify").click()
    page.locator("#classify-mode[data-mode=cloud]").wait_for()
    assert "from page-reviews@" in page.locator("#classify-result .bars").get_attribute("aria-label")

    client = st.runtime.app.test_client()
    r = client.post("/v1/classify", json={"model": "page-reviews", "texts": ["good movie"]},
                    headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.get_json()["predictions"][0]["label"] in ("positive", "negative")

    # share later with a friend's token id, then unshare: by keyboard, at 375 px
    friend, friend_id = st.token("friend")

    def friend_classifies() -> int:
        return client.post("/v1/classify", json={"model": "page-reviews", "texts": ["good movie"]},
                           headers={"Authorization": f"Bearer {friend}"}).status_code

    page.locator("#train-share-now", has_text="nobody else").wait_for()
    assert friend_classifies() == 404
    page.locator("#train-share-tokens").focus()
    page.keyboard.type(friend_id)
    page.keyboard.press("Tab")  # the public checkbox, left unticked
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "train-share-save"
    page.keyboard.press("Enter")
    page.locator("#train-share-now", has_text="1 other token").wait_for()
    assert friend_classifies() == 200
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "train-unshare"
    page.keyboard.press("Enter")
    page.locator("#train-share-now", has_text="nobody else").wait_for()
    assert friend_classifies() == 404
    assert page.evaluate("document.documentElement.scrollWidth") <= 375


def test_zero_shot_from_label_descriptions(page, site):
    url, token, st = site
    page.get_by_label("Access token").fill(token)
    page.keyboard.press("Enter")
    page.locator("#train-base option").first.wait_for(state="attached")
    page.get_by_label("Name of your classifier").fill("page-zero-shot")
    page.get_by_label("Only label descriptions (zero-shot)").check()
    page.get_by_label("One label per line: label: description").fill(
        "positive: good great love happy\nnegative: bad awful hate sad")
    page.get_by_label("…or paste rows (one text,label per line)").fill("good great love,positive\nawful hate sad,negative")
    page.get_by_role("button", name="Train").click()
    page.locator("#train-eval").wait_for(state="visible")
    assert page.locator("#train-headline").inner_text().startswith("Accuracy 100.0 %")

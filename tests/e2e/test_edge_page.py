"""Edge mode in headless Chromium: the page loads the service's own ONNX model and tokenizer.json from
S3 by presigned URL (a moto server here, so the browser reaches it as it would reach S3), runs them with
onnxruntime-web + @huggingface/tokenizers (packaged from npm, no CDN), labels held-out texts exactly
as /v1/classify does, and keeps answering with the network cut. Tiny artifacts: seconds, no real model."""
from __future__ import annotations

import threading

import boto3
import pytest

from tests.e2e.phone import phone_page
from tests.functional.api_events import BUCKET, TABLE, create_tokens_table, lambda_env
from infra.local.moto import FAKE_AWS, MotoServer
from tests.support.s3 import upload_registry

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
HELD_OUT = ["good movie", "awful food", "the weather was ok", "i hate this day", "great service really",
            "sad and terrible", "it is not bad", "happy happy day", "meh average food", "the movie was fine"]
PROB_TOLERANCE = 1e-4  # fp32 in both runtimes; the WebAssembly kernels sum in another order


@pytest.fixture()
def site(tiny_registry, tmp_path, monkeypatch):
    pytest.importorskip("waitress")
    try:
        from infra.web_assets import AssetsMissingError, publish_runtime, vendor_page
        vendor_page()
    except AssetsMissingError as exc:
        pytest.skip(str(exc))
    for key, value in FAKE_AWS.items():
        monkeypatch.setenv(key, value)
    moto = MotoServer().start()
    try:
        s3 = boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1")
        ddb = boto3.client("dynamodb", endpoint_url=moto.url, region_name="us-east-1")
        upload_registry(s3, BUCKET, tiny_registry)
        publish_runtime(s3, BUCKET)
        create_tokens_table(ddb)
        from functions.api.handler import build_runtime
        from functions.auth.admin import create_token
        from waitress import create_server

        runtime = build_runtime(lambda_env(tmp_path / "cache", SNLP_PRELOAD_MODELS=""), s3_client=s3,
                                dynamodb_client=ddb)
        server = create_server(runtime.app, host="127.0.0.1", port=0, threads=4)
        threading.Thread(target=server.run, daemon=True).start()
        origin = f"http://127.0.0.1:{server.effective_port}"
        s3.put_bucket_cors(Bucket=BUCKET, CORSConfiguration={"CORSRules": [{
            "AllowedOrigins": [origin], "AllowedMethods": ["GET"], "AllowedHeaders": ["*"], "MaxAgeSeconds": 600}]})
        token, _ = create_token(ddb, TABLE, owner="edge", models="*", quota_per_day=1000)
        yield origin, token, runtime, moto
        server.close()
    finally:
        moto.stop()


@pytest.fixture()
def page(site):
    with phone_page(site[0] + "/", timeout_ms=60_000) as opened:
        yield opened


def test_edge_labels_like_the_cloud_and_works_offline(page, site):
    pg, ctx, errors = page
    origin, token, runtime, moto = site
    csp = runtime.app.test_client().get("/").headers["Content-Security-Policy"]
    assert f"connect-src 'self' {moto.url};" in csp  # exactly the bucket's origin
    pg.get_by_label("Access token").fill(token)
    pg.keyboard.press("Enter")
    pg.locator("#app").wait_for(state="visible")
    pg.locator("#classify-model").select_option("tiny-sentiment")
    pg.get_by_label("Run on this device").check()
    pg.locator("#edge-status[data-ready=true]").wait_for()
    status = pg.locator("#edge-status").inner_text()
    assert "Ready on this device" in status and "downloaded now" in status, (status, errors)

    cloud = runtime.app.test_client().post("/v1/classify", json={"model": "tiny-sentiment", "texts": HELD_OUT},
                                           headers={"Authorization": f"Bearer {token}"}).get_json()["predictions"]
    edge = pg.evaluate("async (texts) => { const out = []; for (const t of texts) "
                       "out.push((await window.snlpEdge.classify('tiny-sentiment', t)).predictions[0]); return out; }",
                       HELD_OUT)
    assert [e["label"] for e in edge] == [c["label"] for c in cloud]
    for e, c in zip(edge, cloud):
        for label, p in c["scores"].items():
            assert abs(e["scores"][label] - p) <= PROB_TOLERANCE, (label, e, c)

    ctx.set_offline(True)  # the API (and S3) cut: the loaded model keeps answering on the device
    pg.get_by_label("Text", exact=True).fill("good movie")
    pg.get_by_role("button", name="Classify").click()
    pg.locator("#classify-mode[data-mode=edge]").wait_for()
    assert "Answered on this device" in pg.locator("#classify-mode").inner_text()
    assert pg.locator("#classify-result .bars li").first.get_attribute("data-label") == cloud[0]["label"]

"""Edge mode: GET /v1/edge/<model> hands the page what it needs to run a model in the browser.

The same int8 ONNX and ``tokenizer.json`` the service runs, plus onnxruntime-web's WebAssembly
binary, each as a presigned S3 GET URL: large files never go through a Lambda response (6 MB
limit), and the page's CSP allows exactly the bucket's origin (``s3_origins``). The small ES
modules (onnxruntime-web's loader, the tokenizers library) are packaged with the page
(infra/web_assets.py copies them from node_modules). Nothing runs a model here, so no texts are
metered; the token must be allowed the model, and a user's own model exists only for its owner.
Each bundle is ~23-31 MB of S3 egress, so downloads are counted per token per UTC day on the usage
row and capped at ``Settings.edge_downloads_per_day`` (429 rate-limited with Retry-After over it).

Runtime layout in the artifacts bucket (infra/web_assets.py uploads it, this module reads it)::

    web/onnxruntime-web/<version>/ort-wasm-simd-threaded.wasm
"""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, request

from functions.auth.usage import count_edge_download
from functions.nlp.errors import InputTypeError
from functions.nlp.manifest import MODEL_FILE, TOKENIZER_FILE

from . import current
from .context import ApiServices, json_response

RUNTIME_PREFIX = "web/onnxruntime-web/"
RUNTIME_WASM = "ort-wasm-simd-threaded.wasm"
VERSION_RE = re.compile(r"^\d{1,3}\.\d{1,3}\.\d{1,3}$")
EDGE_FILES = (MODEL_FILE, TOKENIZER_FILE)


def runtime_key(version: str) -> str:
    return f"{RUNTIME_PREFIX}{version}/{RUNTIME_WASM}"


def _presign(client: Any, bucket: str, key: str, ttl_s: int) -> str:
    return client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=ttl_s)


def s3_origins(client: Any, buckets: list[str]) -> list[str]:
    """The origins presigned URLs of these buckets point at (for the page's CSP): exactly those."""
    out = []
    for bucket in buckets:
        if bucket:
            parts = urlsplit(_presign(client, bucket, "csp-probe", 60))
            out.append(f"{parts.scheme}://{parts.netloc}")
    return sorted(set(out))


def register(app: Flask, ctx: ApiServices) -> None:
    signer: dict[str, Any] = {}

    def presigner() -> Any:
        """A SigV4 client (KMS-encrypted objects need SigV4 presigned GETs), made on first use."""
        if "client" not in signer:
            from functions.batch.jobs import sigv4_client

            signer["client"] = sigv4_client(ctx.store.s3.client)
        return signer["client"]

    @app.get("/v1/edge/<ref>", endpoint="edge_bundle")
    def edge_bundle(ref: str) -> Response:
        runtime = request.args.get("runtime", "")
        if not VERSION_RE.fullmatch(runtime):
            raise InputTypeError("runtime must be the page's onnxruntime-web version, like 1.30.0")
        seen = current.facts()
        manifest = ctx.visible_manifest(ref, seen.principal)
        cap = ctx.settings.edge_downloads_per_day
        downloads = (count_edge_download(ctx.meter.client, ctx.meter.table, str(seen.principal.token_id), cap)
                     if ctx.metered else None)
        reader, ttl, client = ctx.store.s3, ctx.settings.presign_ttl_s, presigner()
        files = {name: {"url": _presign(client, reader.bucket, reader.key(manifest.name, manifest.version, name), ttl),
                        "bytes": manifest.files[name].bytes, "sha256": manifest.files[name].sha256}
                 for name in EDGE_FILES}
        seen.model = manifest.ref
        return json_response({
            "model": manifest.ref, "task": manifest.task, "labels": list(manifest.labels),
            "max_length": manifest.max_length, "output_name": manifest.output_name,
            "quantization": manifest.quantization, "files": files,
            "runtime": {"version": runtime, "wasm": {"url": _presign(client, reader.bucket, runtime_key(runtime), ttl)}},
            "expires_in": ttl,
            "download_bytes": sum(f["bytes"] for f in files.values()),
            "downloads_today": downloads, "downloads_per_day": cap or None,
        })


__all__ = ["register", "s3_origins", "runtime_key", "RUNTIME_PREFIX", "RUNTIME_WASM", "EDGE_FILES"]

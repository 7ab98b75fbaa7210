"""Edge mode's browser runtime, from npm (package.json pins onnxruntime-web and @huggingface/tokenizers).

Two destinations, by size:
- the small ES modules (< 100 kB each: onnxruntime-web's loader and its WebAssembly glue, the
  tokenizers library) are packaged with the page: copied into ``functions/web/vendor/``
  (git-ignored; ``make package``, ``make up`` and the tests run ``vendor_page``);
- the WebAssembly binary (~14 MB) never goes through a Lambda response: ``publish_runtime`` puts it
  in the artifacts bucket (``functions.api.routes_edge.runtime_key``) and the page gets a presigned URL.

    python -m infra.web_assets vendor                 # copy the page's modules
    python -m infra.web_assets publish --bucket B     # upload the runtime (AWS_ENDPOINT_URL for moto)
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

from functions.api.routes_edge import RUNTIME_WASM, runtime_key
from functions.api.routes_web import VENDOR, VENDOR_DIR

REPO = Path(__file__).resolve().parents[1]
NODE_MODULES = REPO / "node_modules"
ORT = "onnxruntime-web"
PAGE_FILES = {"ort.wasm.min.mjs": f"{ORT}/dist/ort.wasm.min.mjs",
              "ort-wasm-simd-threaded.mjs": f"{ORT}/dist/ort-wasm-simd-threaded.mjs",
              "tokenizers.min.mjs": "@huggingface/tokenizers/dist/tokenizers.min.mjs"}
assert set(PAGE_FILES) == VENDOR, "routes_web.VENDOR lists the files served from vendor/"


class AssetsMissingError(RuntimeError):
    """node_modules lacks the pinned packages: run `npm ci`."""


def _source(rel: str, node_modules: Path) -> Path:
    path = node_modules / rel
    if not path.is_file():
        raise AssetsMissingError(f"{path} is missing: run `npm ci` (package.json pins {ORT} and @huggingface/tokenizers)")
    return path


def ort_version(node_modules: Path = NODE_MODULES) -> str:
    return json.loads(_source(f"{ORT}/package.json", node_modules).read_text())["version"]


def vendor_page(target: Path = VENDOR_DIR, node_modules: Path = NODE_MODULES) -> list[Path]:
    """Copy the page's ES modules next to it; returns the files written."""
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    out = []
    for name, rel in PAGE_FILES.items():
        shutil.copyfile(_source(rel, node_modules), target / name)
        out.append(target / name)
    return out


def publish_runtime(s3: Any, bucket: str, node_modules: Path = NODE_MODULES) -> str:
    """Upload the WebAssembly binary under its version's key (idempotent); returns the key."""
    key = runtime_key(ort_version(node_modules))
    s3.upload_file(str(_source(f"{ORT}/dist/{RUNTIME_WASM}", node_modules)), bucket, key,
                   ExtraArgs={"ContentType": "application/wasm"})
    return key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.web_assets", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("vendor")
    pub = sub.add_parser("publish")
    pub.add_argument("--bucket", required=True)
    args = parser.parse_args(argv)
    if args.cmd == "vendor":
        print("\n".join(str(p) for p in vendor_page()))
        return 0
    import boto3

    print(publish_runtime(boto3.client("s3"), args.bucket))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Model catalog: GET /v1/models (OpenAI-compatible list) and GET /v1/models/{name}."""
from __future__ import annotations

from typing import Any

from flask import Flask, Response

from functions.nlp.errors import ModelNotFoundError, NlpError

from . import current
from .context import ApiServices, json_response
from .routes_tfserving import version_status

# manifest fields users may see; "source" can hold build-machine paths, so it stays inside
PUBLIC_MANIFEST = ("name", "version", "task", "labels", "dim", "max_length", "pooling", "normalize",
                   "quantization", "pruning", "metrics", "created_at", "files")
OWNER = "serverless-nlp"


MAX_MANIFESTS = 20  # the newest versions' manifests (each is one small, cached S3 GET)


def _version_manifest(ctx: Any, name: str, version: str) -> dict[str, Any] | None:
    """One version's public manifest (the catalog shows quantization, size, quality per version)."""
    try:
        return public_manifest(ctx.store.manifest(f"{name}@{version}").to_dict())
    except NlpError:
        return None


def public_manifest(manifest: dict[str, Any] | None) -> dict[str, Any] | None:
    if manifest is None:
        return None
    return {k: manifest[k] for k in PUBLIC_MANIFEST if k in manifest}


def register(app: Flask, ctx: ApiServices) -> None:
    @app.get("/v1/models", endpoint="list_models")
    def list_models() -> Response:
        principal = current.principal()
        data = [{"id": m["name"], "object": "model", "created": 0, "owned_by": OWNER,
                 "aliases": m["aliases"], "versions": m["versions"], "numbers": m.get("numbers") or {}}
                for m in ctx.store.list_models()
                if principal.allows(m["name"]) and ctx.model_visible(principal, m["name"], m["versions"])]
        return json_response({"object": "list", "data": data})

    @app.get("/v1/models/<name>", endpoint="describe_model")
    def describe_model(name: str) -> Response:
        if ":" in name or "@" in name:
            raise ModelNotFoundError("use the model name here, without an alias or version")
        principal = current.principal()
        principal.require_model(name)
        info = ctx.store.describe(name)
        if not ctx.model_visible(principal, name, list(info["versions"]), info.get("manifest")):
            raise ModelNotFoundError(f"model {name} not found")
        loaded = list(info.get("loaded") or ())
        return json_response({
            "name": info["name"], "object": "model", "aliases": info["aliases"], "versions": info["versions"],
            "loaded": loaded, "manifest": public_manifest(info.get("manifest")),
            "manifests": {v: _version_manifest(ctx, name, v) for v in list(info["versions"])[-MAX_MANIFESTS:]},
            "numbers": info.get("numbers") or {},
            # TensorFlow Serving's model status (GET /v1/models/{name} is also its status route)
            "model_version_status": version_status(info.get("numbers") or {}),
        })

"""A trained model's sharing, changed by its owner after publishing.

    GET    /v1/models/{name}/sharing   who it is shared with now (ETag: the record's version)
    PUT    /v1/models/{name}/sharing   {"tokens": [token ids], "public": bool}: replaces it
    PATCH  /v1/models/{name}/sharing   {"add": [...], "remove": [...], "public"?: bool}: changes it
    DELETE /v1/models/{name}/sharing   unshare: only the owner sees the model again

Only the owner (the token that trained it) may call these: 403 for a token that can see the model
but does not own it, 404 for one that cannot see it. The record (models/<name>/sharing.json)
replaces the manifests' publish-time sharing for every version; writes are conditional (an
``If-Match`` that no longer matches is 412; without one, concurrent PATCHes all land). Other API
instances see a change within the alias cache TTL (``alias_ttl_s``): this instance at once.
"""
from __future__ import annotations

from typing import Any

from flask import Flask, Response, request

from functions.nlp.errors import InputTypeError, ModelNotFoundError
from functions.nlp.manifest import NAME_RE
from functions.store.visibility import NOBODY, PUBLIC, Sharing, published_sharing, require_owner, token_ids

from . import current
from .context import ApiServices, json_response

PATCH_FIELDS = ("add", "remove", PUBLIC)


def register(app: Flask, ctx: ApiServices) -> None:
    def owned(name: str) -> Any:
        """The owner-bearing manifest of ``name`` when the caller owns it (404 / 403 otherwise)."""
        if not NAME_RE.fullmatch(name):
            raise ModelNotFoundError("invalid model name")
        principal = current.principal()
        principal.require_model(name)
        info = ctx.store.describe(name)
        manifest = ctx.model_source(name, list(info["versions"]), info.get("manifest"))
        if manifest is None:
            raise ModelNotFoundError(f"model {name} not found")
        require_owner(manifest, str(principal.token_id), ctx.store.sharing)
        return manifest

    def answer(name: str, sharing: Sharing, etag: str | None, *, recorded: bool) -> Response:
        current.facts().model = name
        body = {"model": name, **sharing.to_dict(), "set_by": "owner" if recorded else "publish",
                "propagation_s": ctx.settings.alias_ttl_s}
        return json_response(body, headers={"ETag": etag} if etag else None)

    def change(name: str, update: Any) -> Response:
        manifest = owned(name)
        sharing, etag = ctx.store.change_sharing(name, update, initial=published_sharing(manifest.source),
                                                 if_match=request.headers.get("If-Match"))
        ctx.logger.info("model sharing changed", extra={"model": name, "tokens": len(sharing.tokens),
                                                        "public": sharing.public})
        return answer(name, sharing, etag, recorded=True)

    @app.get("/v1/models/<name>/sharing", endpoint="get_sharing")
    def get_sharing(name: str) -> Response:
        manifest = owned(name)
        sharing, etag = ctx.store.sharing_etag(name)
        if sharing is None:
            return answer(name, published_sharing(manifest.source), None, recorded=False)
        return answer(name, sharing, etag, recorded=True)

    @app.put("/v1/models/<name>/sharing", endpoint="put_sharing")
    def put_sharing(name: str) -> Response:
        wanted = _strict(lambda: Sharing.from_dict(ctx.read_json()))
        return change(name, lambda current: wanted)

    @app.patch("/v1/models/<name>/sharing", endpoint="patch_sharing")
    def patch_sharing(name: str) -> Response:
        body = ctx.read_json()
        unknown = sorted(set(body) - set(PATCH_FIELDS))
        if unknown:
            raise InputTypeError(f"unknown field {unknown[0]}: send add, remove and/or public")
        add = _strict(lambda: token_ids(body.get("add", []), "add"))
        remove = _strict(lambda: token_ids(body.get("remove", []), "remove"))
        public = body.get(PUBLIC)
        if public is not None and not isinstance(public, bool):
            raise InputTypeError("public must be true or false")

        def update(current: Sharing) -> Sharing:
            new = _strict(lambda: current.with_tokens(add, remove))
            return new if public is None else Sharing(new.tokens, public)

        return change(name, update)

    @app.delete("/v1/models/<name>/sharing", endpoint="delete_sharing")
    def delete_sharing(name: str) -> Response:
        return change(name, lambda current: NOBODY)


def _strict(make: Any) -> Any:
    """``make()``, its ValueError (a field's shape) answered as 422."""
    try:
        return make()
    except ValueError as exc:
        raise InputTypeError(str(exc)) from None


__all__ = ["register", "PATCH_FIELDS"]

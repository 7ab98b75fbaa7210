"""Build-your-own classifier: POST /v1/train, GET /v1/train/<job>, POST /v1/train/<job>/publish.

Training runs in the ``train`` function behind its own queue (never inside a 29-second HTTP
call): these routes check the request, admit it against the token's daily quota (training counts
every text it embeds: the rows, plus the label descriptions for zero-shot; reserved now with the
batch path's all-or-nothing ``admit``, billed by the worker for what it embedded), store the rows,
record the job and queue it. Progress and the evaluation come from GET; publish queues the
composition and the registry write. Another token's job is "not found".
"""
from __future__ import annotations

import time
from typing import Any, Callable

from flask import Blueprint

from functions.auth.tokens import TokenRecord
from functions.batch import metering
from functions.batch.jobs import _ledger_errors
from functions.nlp.errors import InputTypeError
from functions.nlp.manifest import NAME_RE
from functions.store.refs import ALIAS_MAX
from functions.train.data import MAX_ROWS, check_descriptions, check_rows, sample_labels_known
from functions.store.visibility import token_ids
from functions.train.publishing import check_name

from . import current
from .context import ApiServices, json_response, read_json_body

SHAPE = ('the body must be a JSON object: {"name", "rows": "text,label CSV" | [{"text","label"}], '
         '"base_model"?, "descriptions"?: {label: description}}')


def _name(ctx: ApiServices, value: Any, token_id: str) -> str:
    if not isinstance(value, str) or not NAME_RE.fullmatch(value) or ".." in value:
        raise InputTypeError("name must be 1-64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit")
    check_name(ctx.store.s3, value, token_id)  # 409 now; the worker checks again when it publishes
    return value


def _base_model(ctx: ApiServices, value: Any, principal: TokenRecord) -> str:
    ref = ctx.settings.default_embed_model if value is None else value
    if not isinstance(ref, str):
        raise InputTypeError("base_model must be a string")
    manifest = ctx.visible_manifest(ref, principal)
    if manifest.task != "embed":
        raise InputTypeError(f"base_model must be an embedding model; {manifest.name} does {manifest.task}")
    return manifest.ref  # pinned: the job trains on this exact version whatever the alias does later


def train_blueprint(ctx: ApiServices, jobs: Any, clock: Callable[[], float] = time.time) -> Blueprint:
    """Routes over ``jobs`` (functions.train.jobs.TrainJobs)."""
    bp = Blueprint("train", __name__)

    @bp.post("/v1/train")
    def start():  # type: ignore[no-untyped-def]
        seen = current.facts()
        principal = current.principal()
        body = read_json_body(shape=SHAPE)
        token_id = str(principal.token_id)
        name = _name(ctx, body.get("name"), token_id)
        base = _base_model(ctx, body.get("base_model"), principal)
        descriptions = body.get("descriptions")
        if descriptions is not None:
            descriptions = check_descriptions(descriptions)
            rows = check_rows(body["rows"], min_rows=1) if body.get("rows") is not None else None
            if rows is not None:
                sample_labels_known(rows, list(descriptions))
            kind, texts = "zero-shot", len(descriptions) + (len(rows.texts) if rows else 0)
        else:
            if body.get("rows") is None:
                raise InputTypeError("rows are required (or descriptions, for a zero-shot classifier)")
            rows = check_rows(body["rows"])
            kind, texts = "train", len(rows.texts)
        item: dict[str, Any] = {"name": name, "base_model": base, "kind": kind, "rows": len(rows.texts) if rows else 0,
                                "training_data_sha256": rows.sha256() if rows else None,
                                "progress": {"stage": "queued", "rows_embedded": 0, "rows": texts}}
        admitted: dict[str, Any] = {}
        if ctx.meter is not None and ctx.auth_enabled:
            admitted = metering.admit(ctx.meter.client, ctx.meter.table, principal, texts, now=clock())
            item["reservation"] = {"token_id": token_id, **admitted["reservation"]}
        try:
            with _ledger_errors():
                job = jobs.create(token_id, item, rows.to_jsonl() if rows else None,
                                  {"descriptions": descriptions} if descriptions else None)
        except Exception:
            if admitted:  # nothing was queued: the reservation goes back to the quota
                metering.give_back(ctx.meter.client, ctx.meter.table, admitted["meter"], admitted["reservation"],
                                   now=clock())
            raise
        seen.texts = texts
        return json_response(job, 202, {"Location": f"/v1/train/{job['job_id']}"})

    @bp.get("/v1/train/<job_id>")
    def status(job_id: str):  # type: ignore[no-untyped-def]
        with _ledger_errors():
            job = jobs.get(job_id, str(current.principal().token_id))
        if job.get("status") == "published":
            ctx.store.forget(job["name"])  # a lookup before it existed may have cached "not found" here
        return json_response(job)

    @bp.post("/v1/train/<job_id>/publish")
    def publish(job_id: str):  # type: ignore[no-untyped-def]
        body = read_json_body(allow_empty=True,
                              shape='the body must be a JSON object: {"alias"?: "prod", "share_with"?: [token ids]}')
        alias = body.get("alias", "prod")
        if not isinstance(alias, str) or not NAME_RE.fullmatch(alias.lower()) or len(alias) > ALIAS_MAX:
            raise InputTypeError("alias must be 1-64 characters of letters, digits, '.', '_' or '-'")
        try:
            shared = token_ids(body.get("share_with", []), "share_with")
        except ValueError as exc:
            raise InputTypeError(str(exc)) from None
        with _ledger_errors():
            return json_response(jobs.publish(job_id, str(current.principal().token_id), alias, sorted(set(shared))),
                                 202)

    return bp


__all__ = ["train_blueprint", "MAX_ROWS"]

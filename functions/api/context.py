"""What every route shares: request parsing, auth lookup, model choice, metered execution.

Kept free of per-request allocation beyond what the request needs: no schema objects are
built per call, the token check is a dict lookup when cached, usage is counted in memory.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from functions.auth.errors import MissingTokenError
from functions.auth.tokens import ANONYMOUS, TokenRecord
from functions.nlp.errors import InputTypeError, ModelNotFoundError, NlpError, TooManyTextsError, ValidationError
from functions.nlp.model import InferenceModel, Limits, RunResult, validate_texts
from functions.nlp.overflow import Overflow, Windows
from functions.settings import Settings
from functions.store.refs import parse_ref
from functions.store.visibility import require_visible

from . import jsonio
from .errors import MalformedJsonError, UnsupportedMediaTypeError
from .telemetry import Telemetry

JSON = "application/json"
JSON_UTF8 = "application/json; charset=utf-8"


def parse_json_body(data: bytes, mimetype: str, *, allow_empty: bool = False,
                    shape: str = "the request body must be a JSON object") -> dict[str, Any]:
    """A request body as a JSON object ({} when empty and ``allow_empty``): 415 for another
    content type, 400 for broken or too deeply nested JSON, 422 for a non-object."""
    if allow_empty and not data:
        return {}
    if mimetype and mimetype != JSON and not mimetype.endswith("+json"):
        raise UnsupportedMediaTypeError(f"send the body as {JSON}, not {mimetype}")
    try:
        body = jsonio.loads(data)
    except ValueError:  # includes UnicodeDecodeError
        raise MalformedJsonError("the request body is not valid JSON") from None
    except RecursionError:
        raise MalformedJsonError("the request body is nested too deeply") from None
    if not isinstance(body, dict):
        raise InputTypeError(shape)
    return body


def read_json_body(*, allow_empty: bool = False,
                   shape: str = "the request body must be a JSON object") -> dict[str, Any]:
    """``parse_json_body`` of the Flask request being served."""
    from flask import request  # the Flask routes' helper: the direct path never imports Flask

    return parse_json_body(request.get_data(cache=True), request.mimetype, allow_empty=allow_empty, shape=shape)


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Any:
    """A Flask ``Response``; ``payload`` may hold numpy arrays (embeddings, scores): they are written as they are."""
    from flask import Response

    return Response(jsonio.dumps(payload), status=status, headers=headers, content_type=JSON_UTF8)


@dataclass(slots=True)
class RequestFacts:
    """What one request's access log line says, filled in while it is served and handed from the
    gate to the route to the access log: the services' methods take it as an argument."""

    t0: float
    request_id: str | None
    principal: TokenRecord | None = None
    model: str | None = None  # the model that ran (name@version)
    texts: int | None = None  # windows admitted and run
    tokens: int | None = None
    n_texts: int = 0  # texts read so far: what model_for checks the quota for
    input_texts: list[str] | None = None  # only when the stage logs texts


@dataclass(frozen=True, slots=True)
class Inference:
    """One metered run (``ApiServices.infer``): the model that ran and its result, which carries
    the counts (tokens per text, windows, truncation); ``checked``: what the caller's check returned."""

    model: InferenceModel
    result: RunResult
    checked: Any = None

    @property
    def manifest(self) -> Any:
        return self.model.manifest


_REFS_CACHED = 256  # parsed model references kept (the few names and aliases clients send)


@dataclass
class ApiServices:
    """The services every route uses, built once per app (not per request). Nothing here reads
    the web framework's request: what a method needs of the request (its facts, headers) comes in
    as arguments, so the Flask routes and the direct routes (functions/api/direct.py) share them."""

    settings: Settings
    store: Any  # ArtifactStore or a fake with the same methods
    tokens: Any | None  # .authenticate(token) -> TokenRecord
    meter: Any | None  # .admit / .record / .refund (functions.auth.usage.UsageMeter)
    telemetry: Telemetry
    clock: Callable[[], float]
    logger: Any = field(default_factory=lambda: logging.getLogger("snlp.api"))

    def __post_init__(self) -> None:
        s = self.settings
        self.limits = Limits(max_texts=s.max_texts, max_chars=s.max_chars, truncate=s.truncate)
        self.auth_enabled = bool(s.auth_enabled)
        self._refs: dict[str, Any] = {}

    @property
    def metered(self) -> bool:
        """Whether requests are admitted against quotas and rate limits and their usage recorded."""
        return self.meter is not None and self.auth_enabled

    # --- request parsing ----------------------------------------------------------------
    def read_json(self) -> dict[str, Any]:
        """The Flask request's body as a JSON object: 415 for another content type, 400 for broken JSON."""
        return read_json_body()

    def texts(self, seen: RequestFacts, value: Any, field_name: str = "texts",
              limits: Limits | None = None) -> list[str]:
        if value is None:
            raise InputTypeError(f"{field_name} is required")
        try:
            texts = validate_texts(value, limits or self.limits)
        except ValidationError as exc:
            if field_name == "texts":
                raise
            raise type(exc)(exc.detail.replace("texts", field_name, 1)) from None
        for index, text in enumerate(texts):
            if not text.isascii():  # ASCII always encodes; only other text can hold a lone surrogate
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    raise InputTypeError(f"{field_name}[{index}] is not valid Unicode (lone surrogate)") from None
        if self.settings.log_texts:  # off by default: texts are the customers' data
            seen.input_texts = [t[:200] for t in texts]
        seen.n_texts += len(texts)  # what model_for checks the quota for
        return texts

    def truncate(self, body: dict[str, Any]) -> bool:
        value = body.get("truncate", self.limits.truncate)
        if not isinstance(value, bool):
            raise InputTypeError("truncate must be true or false")
        return value

    # --- auth and models ----------------------------------------------------------------
    def authenticate(self, headers: Any) -> TokenRecord:
        """The caller's token record from request ``headers`` (anything with a case-insensitive ``get``)."""
        if not self.auth_enabled or self.tokens is None:
            return ANONYMOUS
        token = bearer_token(headers)
        if not token:
            raise MissingTokenError("send a token as 'Authorization: Bearer <token>' or 'x-api-key: <token>'")
        return self.tokens.authenticate(token)

    def parse_ref(self, ref: str) -> Any:
        """``parse_ref`` remembered per string (a ModelRef is immutable; a bad reference raises every time)."""
        mref = self._refs.get(ref)
        if mref is None:
            mref = parse_ref(ref)
            if len(self._refs) >= _REFS_CACHED:
                self._refs.clear()
            self._refs[ref] = mref
        return mref

    def model_for(self, seen: RequestFacts, ref: Any, task: str | None) -> InferenceModel:
        """Parse, check the token's allowed models, check its rate limits and quota for the
        request's texts (no model is downloaded or loaded for a token that is over), load, and
        check the task."""
        if not isinstance(ref, str):
            raise InputTypeError("model must be a string")
        mref = self.parse_ref(ref)
        principal: TokenRecord = seen.principal
        principal.require_model(mref.name)
        self._refuse_unseen(mref, principal)
        if self.metered:
            self.meter.check(principal, max(1, seen.n_texts))
        model = self.store.get(mref)
        self.require_visible(model.manifest, principal)
        if task is not None:
            model.require_task(task)
        seen.model = model.manifest.ref
        return model

    def _refuse_unseen(self, mref: Any, principal: TokenRecord) -> None:
        """Another token's own model is refused before anything is downloaded or loaded for it
        (the manifest is one small cached GET); when even that cannot be read, ``store.get`` decides
        (it may serve a loaded previous version) and the check runs on what it returns."""
        try:
            manifest = self.store.manifest(mref)
        except NlpError:
            return
        self.require_visible(manifest, principal)

    def require_visible(self, manifest: Any, principal: TokenRecord) -> None:
        """A user's own model exists only for its owner and whom its sharing admits (functions/store/visibility.py)."""
        require_visible(manifest, str(principal.token_id), self.store.sharing)

    def visible_manifest(self, ref: str, principal: TokenRecord) -> Any:
        """The manifest ``ref`` resolves to, for a token allowed to use and see it (403 / 404
        otherwise); nothing is downloaded but the manifest."""
        principal.require_model(self.parse_ref(ref).name)
        manifest = self.store.manifest(ref)
        self.require_visible(manifest, principal)
        return manifest

    def model_source(self, name: str, versions: list[str], manifest: dict[str, Any] | None = None) -> Any:
        """A model's owner-bearing manifest: the prod one when given (``describe``'s), else the first
        version's; None when none can be read. A model name is owned by whoever first published it
        (functions/train/publishing.py), so any version's manifest names the same owner."""
        if manifest is not None:
            return _SourceOnly(manifest.get("name", name), manifest.get("source") or {})
        if not versions:
            return None
        try:
            return self.store.manifest(f"{name}@{versions[0]}")
        except NlpError:
            return None

    def model_visible(self, principal: TokenRecord, name: str, versions: list[str],
                      manifest: dict[str, Any] | None = None) -> bool:
        """Whether a model (not one version) is listed and described for ``principal``."""
        source = self.model_source(name, versions, manifest)
        if source is None:
            return not versions  # aliases but no readable version: nothing owned to hide
        try:
            self.require_visible(source, principal)
        except ModelNotFoundError:
            return False
        return True

    # --- running ------------------------------------------------------------------------
    def infer(self, seen: RequestFacts, ref: Any, texts: list[str], task: str | None, overflow: Overflow, *,
              check: Callable[[Any], Any] | None = None) -> Inference:
        """The one way a route runs a model: choose and load it for the token (``model_for``:
        allowed, visible, quota and rate limits checked first), run the route's own ``check`` on its
        manifest, lay out the windows (422 for a text too long when overflow is an error; the
        window cap), then admit, run and record them (``execute``)."""
        model = self.model_for(seen, ref, task)
        checked = check(model.manifest) if check is not None else None
        windows = model.windows(texts, overflow)
        cap = self.settings.max_windows
        if windows.count > cap:
            raise TooManyTextsError(f"these texts make {windows.count} windows of {model.manifest.max_length} tokens; "
                                    f"the limit is {cap} per request: send fewer or shorter documents, "
                                    "or use the batch API")
        return Inference(model, self.execute(seen, model, windows), checked)

    def execute(self, seen: RequestFacts, model: InferenceModel, windows: Windows) -> RunResult:
        """Admit the windows against the quota, run them, record usage, metrics and the request's
        facts; refund on failure. The result carries its counts (tokens, windows, truncation)."""
        n_texts = windows.count
        ticket = self.meter.admit(seen.principal, n_texts) if self.metered else None
        t0 = self.clock()
        try:
            result = model.run_windows(windows)
        except BaseException:
            if ticket is not None:
                self.meter.refund(ticket)
            raise
        ms = (self.clock() - t0) * 1e3
        tokens = result.total_tokens
        if ticket is not None:
            self.meter.record(ticket, tokens)
        self.telemetry.inference(model.manifest.name, ms, n_texts, tokens)
        seen.texts, seen.tokens = n_texts, tokens
        return result


@dataclass(frozen=True, slots=True)
class _SourceOnly:
    """What the visibility rule reads of a manifest, from ``describe``'s manifest dict."""

    name: str
    source: Any


def bearer_token(headers: Any) -> str | None:
    auth = headers.get("Authorization")
    if auth:
        scheme, _, value = auth.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None
    key = headers.get("x-api-key")
    return key.strip() if key and key.strip() else None


def usage(texts: int, tokens: int) -> dict[str, int]:
    return {"texts": texts, "tokens": tokens}


__all__ = ["ApiServices", "RequestFacts", "Inference", "json_response", "parse_json_body", "read_json_body",
           "bearer_token", "usage", "JSON", "JSON_UTF8"]

"""Function log bytes per request, by line kind, at a stage's overhead levers.

The sweep runs the handler at access_log_sample_rate 1 and access_log_fields full (every line,
every field) and records the bytes it writes per request; newer files split them by kind (the
access line, per-model EMF copies, the rest). What each lever changes is then priced from that:

- sampling: ``rate`` x the line's bytes for successes (errors are always logged; the goal's
  traffic is all successes) — derived from the measured line;
- lean fields: the bytes of the line ``functions.api.telemetry.access_log_record`` builds for
  the same request (the code's own output, not a sweep measurement);
- per-model metrics off: minus the per-model EMF copies (measured where the file splits them,
  else the bytes ``telemetry.emf_documents`` writes for one request's points).

A file without the split (older sweeps) gives the access line as its measured total minus the
EMF bytes the current code writes: stated as derived in the report.
"""
from __future__ import annotations

from dataclasses import dataclass

from .measurements import Profile

TYPICAL_REQUEST_ID = "5f0c1c3e-7b7d-4c63-9d0c-1f1e2b3c4d5e"  # Lambda/API Gateway request ids are UUIDs
TYPICAL_TOKEN_ID = "tok_0123456789abcdef"  # functions.auth.tokens: "tok_" + 16 hex digits
TOKENS_PER_TEXT = 20  # the goal's text


@dataclass(frozen=True)
class LogBytes:
    access_line: float  # bytes of one access log line at the deployment's fields
    access: float  # per request: the line x the share of requests that write one
    emf: float  # service-level EMF per request
    emf_model: float  # per-model EMF copies per request (0 with metrics_per_model off)
    source: str  # measured / derived, in words

    @property
    def total(self) -> float:
        return self.access + self.emf + self.emf_model


def line_bytes(record: dict) -> int:
    from functions.api import jsonio

    return len(jsonio.dumps(record)) + 1  # + the newline


def lean_line_bytes(model_ref: str, texts: int = 1, ms: float = 11.952) -> int:
    """Bytes of a lean access line for a success (built by the api's own builder)."""
    from functions.api.telemetry import access_log_record

    return line_bytes(access_log_record("lean", 200, method="POST", path="/v1/classify",
                                        request_id=TYPICAL_REQUEST_ID, token_id=TYPICAL_TOKEN_ID, model=model_ref,
                                        texts=texts, tokens=TOKENS_PER_TEXT * texts, ms=ms))


def emf_bytes(model: str, texts: int = 1, ms: float = 11.952) -> tuple[int, int]:
    """(service-level, per-model) EMF bytes the api writes for one request's inference points."""
    from functions.api.telemetry import Telemetry, emf_documents

    t = Telemetry(per_model=True)
    t.inference(model, ms, texts, TOKENS_PER_TEXT * texts)
    docs = emf_documents(t.drain(), 1796133592870)
    sizes = [line_bytes(d) for d in docs]
    per_model = sum(size for d, size in zip(docs, sizes) if "model" in d)
    return sum(sizes) - per_model, per_model


def function_log_bytes(profile: Profile, *, sample_rate: float = 1.0, fields: str = "full",
                       per_model: bool = True, model_ref: str | None = None) -> LogBytes:
    """Log bytes per warm request of ``profile`` at these levers (see the module docstring)."""
    ms = profile.warm_ms
    service_derived, model_derived = emf_bytes(profile.model, ms=ms)
    measured_split = profile.log_access_bytes is not None
    emf_model = profile.log_emf_model_bytes if profile.log_emf_model_bytes is not None else model_derived
    if not profile.measured_per_model:
        emf_model = model_derived  # the sweep wrote none: the code's bytes
    emf_model_measured = profile.measured_per_model and profile.log_emf_model_bytes is not None
    if measured_split:
        full = profile.log_access_bytes
        access_measured = profile.measured_sample_rate * full
    else:  # older files: the access line is what is left of the measured total after the EMF lines
        full = (profile.log_bytes - service_derived - (model_derived if profile.measured_per_model else 0)) \
            / max(profile.measured_sample_rate, 1e-9)
        access_measured = profile.measured_sample_rate * full
    emf = profile.log_bytes - access_measured - (emf_model if profile.measured_per_model else 0)
    lean = lean_line_bytes(model_ref or f"{profile.model}@{profile.variant}", ms=ms)
    line = full if fields == "full" else lean
    how = ("access line and per-model EMF measured by the sweep" if measured_split and emf_model_measured
           else "access line = measured total - EMF bytes the current code writes (derived: this file has no split)")
    if fields != "full":
        how += f"; lean line {lean} B built by functions.api.telemetry (derived)"
    if sample_rate < 1:
        how += f"; sampled: {sample_rate:g} x the line (derived)"
    return LogBytes(access_line=line, access=sample_rate * line, emf=emf, emf_model=emf_model if per_model else 0.0,
                    source=how)


__all__ = ["LogBytes", "function_log_bytes", "lean_line_bytes", "emf_bytes", "line_bytes"]

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

EMF lines: a stage with ``metrics_flush_requests`` N writes one line per k requests (k <= N: at
low traffic an environment's buffer is written after 5 s), each metric's values as a list, so a
request costs ``values + header / k`` bytes (both from the code's own documents at 1 and 2
requests, derived); the measured bytes (the sweep writes one line per request) are scaled by the
code's ratio. A file that measured another EMF format than the code writes
(``telemetry.EMF_FORMAT``; files without the field: format 1) is priced from the code's bytes.
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


def emf_bytes(model: str, texts: int = 1, ms: float = 11.952, requests: float = 1.0) -> tuple[float, float]:
    """(service-level, per-model) EMF bytes per request the api writes when one line carries
    ``requests`` requests' inference points (``metrics_flush_requests``; fractions interpolate)."""
    def per_line(k: int, per_model: bool) -> int:
        from functions.api.telemetry import Telemetry, emf_documents

        t = Telemetry(per_model=per_model)
        for _ in range(k):
            t.inference(model, ms, texts, TOKENS_PER_TEXT * texts)
        return sum(line_bytes(d) for d in emf_documents(t.drain(), 1796133592870))

    out = []
    for per_model in (False, True):
        one, two = per_line(1, per_model), per_line(2, per_model)
        values, header = two - one, 2 * one - two  # a line = header + k x values
        out.append(values + header / max(1.0, requests))
    service, both = out
    return service, both - service


def function_log_bytes(profile: Profile, *, sample_rate: float = 1.0, fields: str = "full",
                       per_model: bool = True, model_ref: str | None = None,
                       metrics_per_line: float = 1.0) -> LogBytes:
    """Log bytes per warm request of ``profile`` at these levers (see the module docstring);
    ``metrics_per_line``: requests sharing one EMF line (``metrics_flush_requests`` at the traffic)."""
    from functions.api.telemetry import EMF_FORMAT

    ms = profile.warm_ms
    service_derived, model_derived = emf_bytes(profile.model, ms=ms)
    service_k, model_k = emf_bytes(profile.model, ms=ms, requests=metrics_per_line)
    same_format = profile.measured_emf_format == EMF_FORMAT
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
    if same_format:
        emf, emf_model = emf * service_k / service_derived, emf_model * (model_k / model_derived if model_derived else 1)
    else:
        emf, emf_model = service_k, model_k
        how += (f"; EMF lines as the code writes them now (format {EMF_FORMAT}; the file measured format "
                f"{profile.measured_emf_format}: derived)")
    if metrics_per_line > 1:
        how += f"; one EMF line per {metrics_per_line:.3g} requests (derived from the code's lines)"
    if fields != "full":
        how += f"; lean line {lean} B built by functions.api.telemetry (derived)"
    if sample_rate < 1:
        how += f"; sampled: {sample_rate:g} x the line (derived)"
    return LogBytes(access_line=line, access=sample_rate * line, emf=emf, emf_model=emf_model if per_model else 0.0,
                    source=how)


__all__ = ["LogBytes", "function_log_bytes", "lean_line_bytes", "emf_bytes", "line_bytes"]

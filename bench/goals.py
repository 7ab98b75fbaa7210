"""Issue #15's model goals, judged on this bench run's latency rows and the build's results.json.

Speed ratios come from the latency section (raw onnxruntime sessions, 1 thread, same run);
fidelity and accuracy from the build report of the artifacts measured (model_artifacts/dist).
"""
from __future__ import annotations

import json

from bench.raw import DIST

RESULTS_FILE = DIST / "results.json"


def _p50(rows: list[dict], model: str, engine: str, texts: int, threads: int = 1) -> float | None:
    for r in rows:
        if (r["model"], r["engine"], r["path"], r["texts"], r["threads"]) == (model, engine, "raw", texts, threads):
            return r["p50_ms"]
    return None


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def _row(goal: str, measured, met: bool | None) -> dict:
    return {"goal": goal, "measured": measured, "met": "n/a" if met is None else ("met" if met else "NOT met")}


def rows(results: dict) -> list[dict]:
    """One row per goal: what was measured and whether it meets the bar."""
    latency = results.get("latency") or []
    build = json.loads(RESULTS_FILE.read_text()) if RESULTS_FILE.is_file() else {}
    out: list[dict] = []
    for model in ("minilm-embed", "sentiment"):
        one = _ratio(_p50(latency, model, "onnx-int8", 1), _p50(latency, model, "onnx-fp32", 1))
        bulk = _ratio(_p50(latency, model, "onnx-fp32", 32), _p50(latency, model, "onnx-int8", 32))
        out.append(_row(f"{model} int8 1-text p50 <= 0.5x fp32 (1 thread)", one, one is not None and one <= 0.5))
        out.append(_row(f"{model} int8 texts/s (32 texts) >= 2.0x fp32 (1 thread)", bulk, bulk is not None and bulk >= 2.0))
    models = build.get("models", {})
    emb = models.get("minilm-embed", {}).get("variants", {}).get("int8", {})
    if emb:
        fid = emb["fidelity"]
        out.append(_row("minilm-embed int8 cos >= 0.995 mean and >= 0.98 min (1,000 test texts vs PyTorch)",
                        f"{fid['cosine_mean']:.4f} / {fid['cosine_min']:.4f} (recipe {emb['build'].get('recipe')})",
                        fid["cosine_mean"] >= 0.995 and fid["cosine_min"] >= 0.98))
    sent = models.get("sentiment", {}).get("variants", {})
    if "int8" in sent:
        int8, fp32 = sent["int8"], sent["fp32"]
        loss = fp32["test"]["accuracy"] - int8["test"]["accuracy"]
        out.append(_row("sentiment int8 accuracy within 0.5 pt of fp32, agreement >= 99 %",
                        f"{int8['test']['accuracy']:.2%} vs {fp32['test']['accuracy']:.2%}, agreement "
                        f"{int8['agreement_with_fp32']:.2%} (recipe {int8['build'].get('recipe')})",
                        abs(loss) <= 0.005 and int8["agreement_with_fp32"] >= 0.99))
    pruned = models.get("sentiment", {}).get("pruned")
    if pruned:
        vs = pruned["vs_unpruned_int8"]
        one = _ratio(_p50(latency, "sentiment", "onnx-int8", 1), _p50(latency, "sentiment", "onnx-pruned", 1))
        bulk = _ratio(_p50(latency, "sentiment", "onnx-int8", 32), _p50(latency, "sentiment", "onnx-pruned", 32))
        out.append(_row("sentiment:pruned >= 1.3x faster than int8 (1 text / 32 texts, 1 thread, this run)",
                        f"{one} / {bulk}", one is not None and bulk is not None and min(one, bulk) >= 1.3))
        out.append(_row("sentiment:pruned >= 25 % smaller than int8", f"{1 - vs['size_ratio']:.1%} smaller",
                        vs["size_ratio"] <= 0.75))
        out.append(_row("sentiment:pruned accuracy within 1 pt of fp32",
                        f"-{vs['accuracy_loss_vs_fp32'] * 100:.2f} pt ({pruned['pruning'].get('spec')})",
                        vs["accuracy_loss_vs_fp32"] <= 0.01))
        out.append(_row("prod alias = the fastest variant meeting int8's fidelity bar",
                        "pruned" if pruned.get("prod") else "int8 (pruned misses the bar)", True))
    return out


__all__ = ["rows"]

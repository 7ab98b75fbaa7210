"""Issue #15's model goals, judged on this bench run and the build's results.json.

Speed ratios have their own measurement here (``interleaved_speed``): every variant of a model is
loaded as the service loads it (``functions.nlp.InferenceModel``, 1 intra-op thread, the service's
micro-batches of ``Settings.batch_size``) and the variants take turns round by round, so a busy
moment of the host lands on all of them alike; times are CPU seconds of the process (the
tokenizer's pool included). Fidelity, accuracy and size verdicts are the ones the build computed
(results.json), against the goals the build imports, so the bench cannot disagree with the build.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from bench.raw import DIST, variant_dirs

RESULTS_FILE = DIST / "results.json"
ONE_TEXT_RUNS = 40  # per round
BULK_TEXTS = 32
ROUNDS = 7


def _row(goal: str, measured, met: bool | None) -> dict:
    return {"goal": goal, "measured": measured, "met": "n/a" if met is None else ("met" if met else "NOT met")}


def interleaved_speed(dirs: dict[str, Path], texts: Sequence[str], rounds: int = ROUNDS) -> dict[str, dict]:
    """{variant: {"one_text_cpu_ms", "texts_per_cpu_s"}}: a median-length text alone, and
    ``BULK_TEXTS`` texts in one call (bucketed micro-batches, as a request), variants interleaved."""
    from functions.nlp.model import InferenceModel
    from functions.settings import Settings

    batch = Settings().batch_size
    models = {v: InferenceModel.from_dir(d, threads=1, batch_size=batch) for v, d in dirs.items()}
    bulk = list(texts[:BULK_TEXTS])
    one = [sorted(bulk, key=len)[len(bulk) // 2]]
    single: dict[str, list[float]] = {v: [] for v in models}
    rate: dict[str, list[float]] = {v: [] for v in models}
    for model in models.values():  # warm-up
        model.run(bulk)
    for r in range(rounds):
        order = list(models) if r % 2 == 0 else list(models)[::-1]  # nobody always runs first
        for v in order:
            model = models[v]
            for _ in range(ONE_TEXT_RUNS):
                start = time.process_time()
                model.run(one)
                single[v].append(time.process_time() - start)
            start = time.process_time()
            model.run(bulk)
            rate[v].append(len(bulk) / max(time.process_time() - start, 1e-9))
    return {v: {"one_text_cpu_ms": round(float(np.median(single[v])) * 1e3, 3),
                "texts_per_cpu_s": round(float(np.median(rate[v])), 1)} for v in models}


def speed_rows(texts: Sequence[str]) -> list[dict]:
    """The measured table behind the speed goals: per model and variant, with ratios to fp32."""
    out = []
    for model in ("minilm-embed", "sentiment"):
        dirs = {v: d for v, d in variant_dirs(model).items() if v in ("fp32", "int8", "pruned")}
        if "fp32" not in dirs:
            continue
        speed = interleaved_speed(dirs, texts)
        base = speed["fp32"]
        for v, s in speed.items():
            out.append({"model": model, "variant": v, "version": dirs[v].name, **s,
                        "one_text_vs_fp32": round(s["one_text_cpu_ms"] / base["one_text_cpu_ms"], 3),
                        "texts_per_s_vs_fp32": round(s["texts_per_cpu_s"] / base["texts_per_cpu_s"], 3),
                        "how": f"InferenceModel.run, 1 thread, micro-batches as served, {ROUNDS} interleaved "
                               f"rounds, process CPU time"})
    return out


def _ratio(speed: list[dict], model: str, variant: str, field: str) -> float | None:
    for r in speed:
        if (r["model"], r["variant"]) == (model, variant):
            return r[field]
    return None


def rows(results: dict) -> list[dict]:
    """One row per goal: what was measured and whether it meets the bar."""
    from model_artifacts.build import INT8_GOALS
    from model_artifacts.pruned_variant import GOALS as PRUNED_GOALS

    speed = results.get("goal_speed") or []
    build = json.loads(RESULTS_FILE.read_text()) if RESULTS_FILE.is_file() else {}
    out: list[dict] = []
    for model in ("minilm-embed", "sentiment"):
        one = _ratio(speed, model, "int8", "one_text_vs_fp32")
        bulk = _ratio(speed, model, "int8", "texts_per_s_vs_fp32")
        out.append(_row(f"{model} int8 1-text p50 <= 0.5x fp32 (1 thread, as served)", one,
                        None if one is None else one <= 0.5))
        out.append(_row(f"{model} int8 texts/s ({BULK_TEXTS} texts) >= 2.0x fp32 (1 thread, as served)", bulk,
                        None if bulk is None else bulk >= 2.0))
    models = build.get("models", {})
    emb = models.get("minilm-embed", {}).get("variants", {}).get("int8", {})
    if emb:
        fid, goal = emb["fidelity"], INT8_GOALS["embed"]
        out.append(_row(f"minilm-embed int8 cos >= {goal['cosine_mean']} mean and >= {goal['cosine_min']} min "
                        "(1,000 test texts vs PyTorch)",
                        f"{fid['cosine_mean']:.4f} / {fid['cosine_min']:.4f} (recipe {emb['build'].get('recipe')})",
                        all(emb.get("goals", {}).values()) if emb.get("goals") else None))
    sent = models.get("sentiment", {}).get("variants", {})
    if "int8" in sent:
        int8, fp32 = sent["int8"], sent["fp32"]
        out.append(_row(f"sentiment int8 accuracy within 0.5 pt of fp32, agreement >= {INT8_GOALS['classify']['agreement']:.0%}",
                        f"{int8['test']['accuracy']:.2%} vs {fp32['test']['accuracy']:.2%}, agreement "
                        f"{int8['agreement_with_fp32']:.2%} (recipe {int8['build'].get('recipe')})",
                        all(int8.get("goals", {}).values()) if int8.get("goals") else None))
    pruned = models.get("sentiment", {}).get("pruned")
    if pruned:
        vs = pruned["vs_unpruned_int8"]
        int8_one, pruned_one = (_ratio(speed, "sentiment", v, "one_text_cpu_ms") for v in ("int8", "pruned"))
        int8_bulk, pruned_bulk = (_ratio(speed, "sentiment", v, "texts_per_cpu_s") for v in ("int8", "pruned"))
        one = round(int8_one / pruned_one, 2) if int8_one and pruned_one else None
        bulk = round(pruned_bulk / int8_bulk, 2) if int8_bulk and pruned_bulk else None
        need = PRUNED_GOALS["speedup"]
        out.append(_row(f"sentiment:pruned >= {need}x faster than int8 (1 text / {BULK_TEXTS} texts, as served)",
                        f"{one} / {bulk}", None if one is None or bulk is None else min(one, bulk) >= need))
        out.append(_row(f"sentiment:pruned >= {1 - PRUNED_GOALS['size_ratio']:.0%} smaller than int8",
                        f"{1 - vs['size_ratio']:.1%} smaller", vs["size_ratio"] <= PRUNED_GOALS["size_ratio"]))
        out.append(_row(f"sentiment:pruned accuracy within {PRUNED_GOALS['accuracy_loss'] * 100:.0f} pt of fp32",
                        f"-{vs['accuracy_loss_vs_fp32'] * 100:.2f} pt ({pruned['pruning'].get('spec')})",
                        vs["accuracy_loss_vs_fp32"] <= PRUNED_GOALS["accuracy_loss"] + 1e-9))
    prod = _prod_row(build)
    if prod:
        out.append(prod)
    return out


def _prod_row(build: dict) -> dict | None:
    """The sentiment prod alias against the build's own rule: pruned when it earned prod, else int8."""
    from functions.store.layout import local_aliases

    aliases = local_aliases(DIST, "sentiment") or {}
    sentiment = build.get("models", {}).get("sentiment", {})
    if "prod" not in aliases or not sentiment:
        return None
    pruned = sentiment.get("pruned") or {}
    want = "pruned" if pruned.get("prod") else "int8"
    have = next((a for a in ("pruned", "int8", "fp32") if aliases.get(a) == aliases["prod"]), aliases["prod"])
    return _row("sentiment prod alias = the fastest variant meeting the fidelity goals",
                f"prod -> {have} ({aliases['prod']}); the build's rule says {want}", have == want)


__all__ = ["rows", "speed_rows", "interleaved_speed"]

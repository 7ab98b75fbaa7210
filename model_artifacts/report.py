"""report.md, PNG charts and the printed results table, all from results.json."""
from __future__ import annotations

import json
from pathlib import Path

RESULTS_FILE = "results.json"
MB = 1024 * 1024


def load_results(dist: Path) -> dict:
    path = dist / RESULTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run `make models` first")
    return json.loads(path.read_text())


def _quality(model: dict, variant: str) -> tuple[str, str]:
    entry = model["variants"].get(variant, {})
    if model["task"] == "classify":
        test = entry.get("test", {})
        quality = f"acc {test['accuracy']:.1%} F1 {test['macro_f1']:.3f}" if test else ""
        agree = entry.get("agreement_with_pytorch")
        return quality, (f"{agree:.1%} vs PyTorch" if agree is not None else "reference")
    fid = entry.get("fidelity")
    return ("", "reference") if not fid else (f"cos {fid['cosine_mean']:.4f} / min {fid['cosine_min']:.4f}", "")


def _lat(entry: dict, key: str) -> str:
    lat = entry.get("latency", {}).get(key)
    return f"{lat['p50']:.1f} / {lat['p95']:.1f}" if lat else ""


def table_rows(results: dict) -> list[list[str]]:
    header = ["model", "variant", "MB", "gzip MB", "quality (test)", "agreement",
              "1 text 1t", "1 text 2t", "32 texts 1t", "32 texts 2t", "texts/s (2t)"]
    rows = [header]
    for name, model in results["models"].items():
        for variant in ("pytorch", "fp32", "fp16", "int8"):
            entry = model["variants"].get(variant, {})
            quality, agree = _quality(model, variant)
            if variant == "int8" and "agreement_with_fp32" in entry:
                agree += f", {entry['agreement_with_fp32']:.1%} vs fp32"
            size = f"{entry['bytes'] / MB:.1f}" if "bytes" in entry else "-"
            gz = f"{entry['gzip_bytes'] / MB:.1f}" if "gzip_bytes" in entry else "-"
            rows.append([name, variant, size, gz, quality, agree, _lat(entry, "1x1t"), _lat(entry, "1x2t"),
                         _lat(entry, "32x1t"), _lat(entry, "32x2t"), str(entry.get("texts_per_s", ""))])
    return rows


def markdown_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows[1:]])


def print_table(results: dict) -> None:
    rows = table_rows(results)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print("latency: p50 / p95 ms; 1t/2t = onnxruntime or torch threads")
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    base = results.get("baselines", {})
    if base:
        lr, vader = base["logreg_frozen_minilm"]["test"], base["vader"]["test"]
        print(f"baselines (test): logistic regression on frozen MiniLM acc {lr['accuracy']:.1%} "
              f"F1 {lr['macro_f1']:.3f}; VADER acc {vader['accuracy']:.1%} F1 {vader['macro_f1']:.3f}")
    if "timings_s" in results:
        print(f"build time: {results['timings_s']['total']:.0f} s (fine-tuning took "
              f"{results.get('fine_tune_seconds_when_built', 0):.0f} s when it ran)")


def charts(out: Path, results: dict) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    files = []
    sent = results["models"]["sentiment"]
    cm = np.array(sent["variants"]["int8"]["test"]["confusion"])
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(cm, cmap="Blues")
    labels = sent["labels"]
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    for (i, j), v in np.ndenumerate(cm):
        ax.text(j, i, str(v), ha="center", va="center", color="black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("sentiment int8: test confusion matrix")
    files.append(_save(fig, out / "confusion_matrix.png"))

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, (name, model) in zip(axes, results["models"].items()):
        variants = [v for v in ("pytorch", "fp32", "fp16", "int8") if "latency" in model["variants"].get(v, {})]
        x = np.arange(len(variants))
        for k, key in enumerate(("1x1t", "1x2t", "32x1t", "32x2t")):
            ax.bar(x + k * 0.2, [model["variants"][v]["latency"][key]["p50"] for v in variants], 0.2, label=key)
        ax.set_xticks(x + 0.3, variants)
        ax.set_yscale("log")
        ax.set_ylabel("p50 ms (log)")
        ax.set_title(name)
        ax.legend(fontsize=7)
    files.append(_save(fig, out / "latency.png"))

    fig, ax = plt.subplots(figsize=(7, 4))
    names = [(n, v) for n, m in results["models"].items() for v in ("fp32", "fp16", "int8")]
    x = np.arange(len(names))
    ax.bar(x - 0.2, [results["models"][n]["variants"][v]["bytes"] / MB for n, v in names], 0.4, label="file")
    ax.bar(x + 0.2, [results["models"][n]["variants"][v]["gzip_bytes"] / MB for n, v in names], 0.4, label="gzip")
    ax.set_xticks(x, [f"{n}\n{v}" for n, v in names], fontsize=7)
    ax.set_ylabel("MB")
    ax.legend()
    files.append(_save(fig, out / "sizes.png"))

    hist = results["models"]["minilm-embed"].get("int8_cosines")
    if hist:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.hist(hist, bins=40)
        ax.axvline(0.98, color="red", linestyle="--", label="min goal 0.98")
        ax.set_xlabel("cosine(int8, PyTorch) on test texts")
        ax.legend()
        files.append(_save(fig, out / "fidelity_hist.png"))
    return files


def _save(fig, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path.name


def int8_recipe_lines(results: dict) -> list[str]:
    """Every int8 recipe the picker tried, per model: size, speed against fp32 and fidelity."""
    lines = ["Every recipe tried, on validation texts. Speed: 1 onnxruntime thread, each recipe and fp32 "
             "interleaved in one process, CPU time of the calling thread (a busy host shifts them alike); "
             "1 text = a median-length text, texts/s = 240 texts in micro-batches of 8. The picker takes the "
             "fastest (texts/s) that meets the fidelity margin (within 5 % of the fastest, the more faithful); "
             "outlier channels are found on 200 train texts, fidelity is judged on validation texts.", "",
             "| model | recipe | MB | fp32 MatMuls | outlier channels | fidelity | 1 text CPU ms (x fp32) | "
             "texts per CPU s (x fp32) | meets margin | picked |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name in ("minilm-embed", "sentiment"):
        build = results["models"][name]["variants"]["int8"]["build"]
        for t in build.get("tried", []):
            quality = f"cos {t['cosine_mean']:.4f} / min {t['cosine_min']:.4f}" if "cosine_mean" in t \
                else f"agreement {t['agreement']:.2%}"
            lines.append(f"| {name} | {t['recipe']} | {t.get('mb', '')} | {t['kept_fp32_matmuls']} | "
                         f"{t.get('outlier_channels', 0)} | {quality} | {t.get('p50_ms', '')} ({t.get('p50_vs_fp32', '')}) | "
                         f"{t.get('texts_per_s', '')} ({t.get('texts_per_s_vs_fp32', '')}) | "
                         f"{'yes' if t.get('meets_margin') else 'no'} | {'**yes**' if t['recipe'] == build['recipe'] else ''} |")
    return lines + [""]


def pruned_report_lines(pruned: dict | None) -> list[str]:
    """The build report's section for ``results["models"]["sentiment"]["pruned"]`` (nothing when absent)."""
    if not pruned:
        return []
    facts, distilled, speed = pruned["pruning"], pruned.get("distill", {}), pruned["speed_1_thread"]
    lines = ["## Structured pruning + distillation (`sentiment:pruned`, int8)", "",
             f"Recipe {facts['spec']}: {facts['params_after']:,} of {facts['params_before']:,} parameters kept "
             f"(encoder {facts['encoder_params_after']:,} of {facts['encoder_params_before']:,}); distilled from the "
             f"fp32 model for {distilled.get('steps')} steps on {distilled.get('train_texts')} train texts in "
             f"{distilled.get('seconds')} s ({distilled.get('seconds_per_step')} s/step, "
             f"{distilled.get('threads')} threads, {distilled.get('cpu_seconds')} CPU s; 0 s when cached). "
             "Speed: 1 onnxruntime thread, the two int8 models interleaved in one process, median of rounds.", "",
             "| model | MB | test accuracy | macro-F1 | agreement with fp32 | 1 text p50 ms | texts/s |",
             "|---|---|---|---|---|---|---|"]
    for name in ("fp32", "int8", "pruned_fp32", "pruned"):
        entry, timing = pruned["variants"][name], speed.get(name, {})
        lines.append(f"| {name} | {entry['bytes'] / 1e6:.1f} | {entry['test']['accuracy']:.1%} | "
                     f"{entry['test']['macro_f1']:.3f} | {entry['agreement_with_fp32']:.1%} | "
                     f"{timing.get('p50_ms', '')} | {timing.get('texts_per_s', '')} |")
    lines += ["", f"Against the unpruned int8: {pruned['vs_unpruned_int8']}. Goals: {pruned['goals']}.", ""]
    return lines


def write_report(out: Path, results: dict) -> Path:
    pngs = charts(out, results)
    corpus, base, prune = results["corpus"], results["baselines"], results["pruning"]
    sent = results["models"]["sentiment"]["variants"]
    emb = results["models"]["minilm-embed"]["variants"]
    lines = [
        "# Default models: evaluation report", "",
        f"Inputs hash `{results['key'][:8]}`; packages: " +
        ", ".join(f"{k} {v}" for k, v in results["packages"].items()) + ".", "",
        "## Data", "",
        f"Corpus: {corpus['rows_read']} rows read, {corpus['usable']} usable, {corpus['unreadable']} unreadable "
        f"(counted, listed in results.json), {corpus['duplicates_dropped']} duplicate texts dropped so no text "
        f"sits in two splits. Stratified split (seed {results['config']['seed']}): {corpus['split']}. "
        "Every choice (int8 recipe, VADER thresholds, logistic-regression C) used validation; "
        "the test split is used only for the numbers below.", "",
        "## Results", "", "Latency cells are p50 / p95 in ms, measured in this run on this machine "
        "(2-thread timings on these shared VMs swing up to 2x run to run).", "",
        markdown_table(table_rows(results)), "",
        "## Sentiment vs baselines (test split)", "",
        "| model | accuracy | macro-F1 |", "|---|---|---|",
        f"| fine-tuned MiniLM, PyTorch | {sent['pytorch']['test']['accuracy']:.1%} | {sent['pytorch']['test']['macro_f1']:.3f} |",
        f"| fine-tuned MiniLM, ONNX int8 (prod) | {sent['int8']['test']['accuracy']:.1%} | {sent['int8']['test']['macro_f1']:.3f} |",
        f"| logistic regression on frozen MiniLM (C={base['logreg_frozen_minilm']['C']}) | "
        f"{base['logreg_frozen_minilm']['test']['accuracy']:.1%} | {base['logreg_frozen_minilm']['test']['macro_f1']:.3f} |",
        f"| VADER (thresholds {base['vader']['thresholds']} from validation) | "
        f"{base['vader']['test']['accuracy']:.1%} | {base['vader']['test']['macro_f1']:.3f} |", "",
        f"Fine-tuning: {results['training'].get('steps')} steps, {results['training'].get('seconds')} s, "
        f"config {results['training'].get('config')}.", "",
        "## int8", "",
        f"minilm-embed int8 recipe `{emb['int8']['build'].get('recipe')}`: goals {emb['int8'].get('goals')}. "
        f"sentiment int8 recipe `{sent['int8']['build'].get('recipe')}`: goals {sent['int8'].get('goals')}.", "",
        *int8_recipe_lines(results),
        "## Pruning (global magnitude, linear weights, no retraining)", "",
        f"**{prune['note']}.** fp32 ONNX files:", "",
        "| model | fraction | bytes | gzip bytes | quality |", "|---|---|---|---|---|",
    ]
    for name, by_fraction in prune.items():
        if name == "note":
            continue
        for fraction, r in by_fraction.items():
            quality = f"acc {r['accuracy']:.1%} F1 {r['macro_f1']:.3f}" if "accuracy" in r \
                else f"cos {r['cosine_mean']:.4f} / min {r['cosine_min']:.4f}"
            lines.append(f"| {name} | {float(fraction):.0%} | {r['bytes']:,} | {r['gzip_bytes']:,} | {quality} |")
    lines += ["", *pruned_report_lines(results["models"]["sentiment"].get("pruned"))]
    lines += ["", "## Build time", "", f"Stages (s): {results['timings_s']}. Fine-tuning took "
              f"{results.get('fine_tune_seconds_when_built')} s when it ran (its checkpoint is cached by its own "
              "inputs, so the stage reads 0 when reused).", ""]
    lines += [f"![{p}]({p})" for p in pngs]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


__all__ = ["RESULTS_FILE", "load_results", "print_table", "write_report", "table_rows", "markdown_table",
           "int8_recipe_lines", "pruned_report_lines"]

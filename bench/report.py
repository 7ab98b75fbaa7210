"""Markdown tables and PNG plots from one bench run's results."""
from __future__ import annotations

from pathlib import Path

from bench import ceiling, threads


def _table(rows: list[dict]) -> str:
    if not rows:
        return "_not measured_\n"
    cols = list(rows[0].keys())
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _plots(results: dict, stem: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    rows = [r for r in results.get("latency", []) if r["texts"] == 1 and r["threads"] == 1]
    if rows:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for ax, model in zip(axes, ("sentiment", "minilm-embed")):
            sel = [r for r in rows if r["model"] == model]
            labels = [f"{r['engine']}\n{r['path']}" for r in sel]
            ax.bar(range(len(sel)), [r["p50_ms"] for r in sel],
                   color=["#c44" if "pytorch" in r["engine"] else ("#48a" if r["path"] == "raw" else "#4a6")
                          for r in sel])
            ax.set_xticks(range(len(sel)), labels, fontsize=7, rotation=30)
            ax.set_ylabel("p50 ms (1 text, 1 thread)")
            ax.set_title(model)
        fig.tight_layout()
        path = stem.parent / f"{stem.name}-latency.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        made.append(path.name)
    fan = results.get("fanout") or []
    if fan:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot([r["workers"] for r in fan], [r["wall_s"] for r in fan], marker="o")
        ax.set_xlabel("local workers")
        ax.set_ylabel("wall time (s)")
        ax.set_title(f"batch fan-out, {fan[0]['lines']} lines")
        fig.tight_layout()
        path = stem.parent / f"{stem.name}-fanout.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        made.append(path.name)
    return made


def write(results: dict, stem: Path) -> str:
    m = results["machine"]
    parts = [f"# Benchmark {results['date']}\n",
             f"Machine: {m['model']}, {m['cores']} cores ({m['machine']}), SIMD: {' '.join(m['simd_flags'])}; "
             f"Python {m['python']}. Packages: " + ", ".join(f"{k} {v}" for k, v in results["packages"].items())
             + f". Settings: {results['settings']}. Whole run: {results.get('elapsed_s')} s.\n",
             "All numbers below come from this one run; medians (p50) over repeated calls.\n"]
    sections = [("Artifact and layer sizes", "sizes"),
                ("Goals of the int8 and pruned models (issue #15): speed ratios from the interleaved table below "
                 "(as served); fidelity, accuracy and size verdicts from the build (model_artifacts/dist/report.md)",
                 "goals_int8_pruning"),
                ("Speed behind the goals: each model's variants loaded as the service loads them "
                 "(InferenceModel, 1 thread, the service's micro-batches), taking turns round by round, "
                 "process CPU time", "goal_speed"),
                ("Latency: PyTorch eager vs raw ONNX sessions vs the full Lambda handler (API Gateway v2 events)",
                 "latency"),
                ("Handler overhead over raw tokenise + session.run, from the latency rows (each call also builds "
                 "its event and parses the answer; the goal is judged on the lean table below)", "handler_overhead"),
                ("Lean request path: the full handler (stage settings, logs + EMF written) over tokenise + "
                 "session.run of the same int8 artifact, 1 text, prebuilt API Gateway events; AWS calls apart "
                 "(goal: overhead <= 0.5 ms p50, both models, float and base64)", "lean_overhead"),
                ("Throughput: length bucketing vs padding to the longest", "bucketing"),
                ("Per-request overhead: log bytes (access log + EMF) and DynamoDB units per request, sentiment, "
                 "1 text", "overhead"),
                ("Cold start: new process, empty cache, artifact from local S3, function code byte-compiled as "
                 "`make package` ships it (checked-hash pycs) (ms; peak RSS in MB; goal: "
                 "sentiment:int8 total <= 300 ms p50)", "coldstart"),
                ("Memory: peak RSS of a new api process with both int8 models loaded, then serving requests one at "
                 "a time (1/8/32/64 texts, classify and embed in turn) (goal: <= 250 MB)", "memory"),
                ("Long inputs: a ~2,000-token document through on_overflow: chunk vs its windows run one call "
                 "each (goal: chunk_vs_apart <= 1.1)", "chunking"),
                ("Embedding types vs float (minilm-embed, corpus pairs): cosine and recall@10 against float's top 10",
                 "embedding_types"),
                ("Batch (S3 -> SQS -> batch handler) vs raw bulk int8 throughput", "batch"),
                ("Batch fan-out over local workers", "fanout"),
                ("Batch at scale: one worker, 1 thread, 8 MiB chunks, against the raw bucketed int8 model at the same "
                 "threads (goals: vs_raw_bucketed >= 0.9, peak worker RSS <= 300 MB, flat in lines)", "scale")]
    for title, key in sections:
        if key in results:
            parts.append(f"## {title}\n\n{_table(results[key])}")
    for key, module in (("threads", threads), ("ceiling", ceiling)):
        for title, body in module.report_parts(results[key]) if key in results else ():
            parts.append(f"## {title}\n\n" + (body + "\n" if isinstance(body, str) else _table(body)))
    plots = _plots(results, stem)
    if plots:
        parts.append("## Plots\n\n" + "\n".join(f"![{p}]({p})" for p in plots) + "\n")
    text = "\n".join(parts)
    stem.with_suffix(".md").write_text(text)
    return text

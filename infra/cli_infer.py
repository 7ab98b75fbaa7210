"""``snlp classify|embed|similarity``: call the API (local or deployed) on texts."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from infra.cli_common import Api, CliError, add_connection_args, print_json, resolve


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("classify", help="classify texts (e.g. sentiment)",
                       description="Classify texts; prints the label and the probability of each label.")
    _texts(p, "texts to classify")
    p.add_argument("--model", default="sentiment", help="name, name:alias or name@version (default sentiment)")
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("embed", help="embed texts as vectors",
                       description="Embed texts; prints one JSON vector per line (or --json for the raw answer).")
    _texts(p, "texts to embed")
    p.add_argument("--model", default="minilm-embed", help="default minilm-embed")
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("similarity", help="how similar two texts are (cosine, -1..1)",
                       description="Cosine similarity of two texts' embeddings.")
    p.add_argument("text_a", help="first text")
    p.add_argument("text_b", help="second text")
    p.add_argument("--model", default="minilm-embed", help="default minilm-embed")
    p.add_argument("--json", action="store_true", help="print the API's JSON answer")
    add_connection_args(p)
    p.set_defaults(func=cmd_similarity)


def _texts(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("texts", nargs="*", help=f"{what}; '-' or none reads one text per line from stdin")
    p.add_argument("--json", action="store_true", help="print the API's JSON answer")
    add_connection_args(p)


def read_texts(args: argparse.Namespace) -> list[str]:
    texts = list(args.texts)
    if not texts or texts == ["-"]:
        if sys.stdin.isatty():
            raise CliError("give at least one text (or pipe them in, one per line)")
        texts = [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        raise CliError("no text to send")
    return texts


# --- tolerant readers of the answers --------------------------------------------------------
def _results(data: Any) -> list:
    for key in ("results", "predictions", "data", "embeddings", "similarities", "scores"):
        if isinstance(data, dict) and isinstance(data.get(key), list):
            return data[key]
    return data if isinstance(data, list) else [data]


def label_scores(item: Any, labels: list[str] | None = None) -> list[tuple[str, float]]:
    """[(label, probability)] from one classify result, highest first."""
    if isinstance(item, list) and item and isinstance(item[0], dict):
        pairs = [(d["label"], float(d["score"])) for d in item]
    elif isinstance(item, dict) and isinstance(item.get("scores"), dict):
        pairs = [(k, float(v)) for k, v in item["scores"].items()]
    elif isinstance(item, dict) and isinstance(item.get("probabilities") or item.get("scores"), list):
        probs = item.get("probabilities") or item.get("scores")
        names = item.get("labels") or labels or [str(i) for i in range(len(probs))]
        pairs = list(zip(names, map(float, probs)))
    elif isinstance(item, dict) and "label" in item:
        pairs = [(item["label"], float(item.get("score", 1.0)))]
    else:
        raise CliError("the API answered in a shape this CLI does not know (try --json)")
    return sorted(pairs, key=lambda p: -p[1])


def vectors(data: Any) -> list[list[float]]:
    out = []
    for item in _results(data):
        vec = item.get("embedding") if isinstance(item, dict) else item
        if not isinstance(vec, list):
            raise CliError("the API answered in a shape this CLI does not know (try --json)")
        out.append(vec)
    return out


def similarity_value(data: Any) -> float:
    if isinstance(data, (int, float)):
        return float(data)
    if isinstance(data, dict):
        for key in ("similarity", "score", "cosine"):
            if isinstance(data.get(key), (int, float)):
                return float(data[key])
    first = _results(data)[0]
    if isinstance(first, (int, float)):
        return float(first)
    if isinstance(first, list) and first:
        return float(first[-1])
    if isinstance(first, dict):
        return float(first.get("similarity", first.get("score")))
    raise CliError("the API answered in a shape this CLI does not know (try --json)")


# --- commands -------------------------------------------------------------------------------
def cmd_classify(args: argparse.Namespace) -> int:
    texts = read_texts(args)
    data = Api(resolve(args)).call("POST", "/v1/classify", {"model": args.model, "texts": texts})
    if args.json:
        print_json(data)
        return 0
    labels = data.get("labels") if isinstance(data, dict) else None
    for text, item in zip(texts, _results(data)):
        pairs = label_scores(item, labels)
        others = "  ".join(f"{name} {p:.3f}" for name, p in pairs)
        print(f"{pairs[0][0]:<10} {pairs[0][1]:.3f}  [{others}]  {_short(text)}")
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    texts = read_texts(args)
    data = Api(resolve(args)).call("POST", "/v1/embed", {"model": args.model, "texts": texts})
    if args.json:
        print_json(data)
        return 0
    import json

    for vec in vectors(data):
        print(json.dumps([round(float(x), 6) for x in vec]))
    return 0


def cmd_similarity(args: argparse.Namespace) -> int:
    data = Api(resolve(args)).call("POST", "/v1/similarity",
                                   {"model": args.model, "source": args.text_a, "targets": [args.text_b]})
    if args.json:
        print_json(data)
    else:
        print(f"{similarity_value(data):.4f}")
    return 0


def _short(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


__all__ = ["register", "label_scores", "vectors", "similarity_value"]

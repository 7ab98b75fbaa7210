"""`python -m model_artifacts <command>`: build, evaluate and publish model artifacts."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .config import DIST, VARIANTS

DEFAULT_MODELS = ("sentiment", "minilm-embed")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m model_artifacts", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("build-defaults", help="build both default models, all variants, evaluation and report "
                                              "(cached: rebuilt only when inputs change)")
    d.add_argument("--force", action="store_true", help="rebuild even if the inputs did not change")
    d.add_argument("--dist", type=Path, default=DIST, help="output root (default: %(default)s)")

    b = sub.add_parser("build", help="export your own model: a Hugging Face directory or a Keras 3 .keras file")
    b.add_argument("--source", required=True, type=Path,
                   help="Hugging Face model directory, a .keras file or a TensorFlow SavedModel directory")
    b.add_argument("--task", required=True, help="classify (sequence classification) or embed (feature extraction)")
    b.add_argument("--name", required=True, help="artifact name (lowercase, e.g. my-model)")
    b.add_argument("--variants", default=",".join(VARIANTS), help="comma list of fp32,fp16,int8 (default: all)")
    b.add_argument("--prune", type=float, default=0.0, help="global magnitude pruning fraction before export")
    b.add_argument("--labels", default="", help="comma list of labels in id order (classify; default: id2label)")
    b.add_argument("--max-length", type=int, default=None,
                   help="truncation length in tokens (default: 128; Keras: the model's input length)")
    b.add_argument("--out", type=Path, default=DIST, help="output root (default: %(default)s)")
    k = b.add_argument_group("Keras sources (.keras)")
    k.add_argument("--vocab", type=Path, default=None,
                   help="Tokenizer.to_json() or TextVectorization vocabulary JSON (see README: Bring your Keras model; "
                        "a SavedModel that takes strings brings its own)")
    k.add_argument("--padding", default="post", choices=("post", "pre"),
                   help="where the training data was padded (pad_sequences' padding; TextVectorization: post)")
    k.add_argument("--truncating", default="post", choices=("post", "pre"),
                   help="which end long texts lost in training (pad_sequences' truncating; TextVectorization: post)")
    k.add_argument("--eval-csv", type=Path, default=None, help="labelled CSV (text,label) to evaluate every variant on")

    r = sub.add_parser("report", help="show the evaluation report of the default build")
    r.add_argument("--print", dest="print_", action="store_true", help="print the results table")
    r.add_argument("--dist", type=Path, default=DIST)

    for name, help_ in (("publish", "upload one built version to the S3 registry"),
                        ("publish-defaults", "publish every built variant of the default models and set aliases"),
                        ("promote", "point an alias of a model at a published version"),
                        ("list", "show published versions, aliases and metrics")):
        s = sub.add_parser(name, help=help_)
        s.add_argument("--bucket", default=os.environ.get("SNLP_ARTIFACTS_BUCKET", ""),
                       help="artifacts bucket (default: $SNLP_ARTIFACTS_BUCKET)")
        s.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL") or None,
                       help="S3 endpoint, e.g. a local moto server (default: $AWS_ENDPOINT_URL or AWS)")
        if name == "publish":
            s.add_argument("artifact_dir", type=Path, help="model_artifacts/dist/<name>/<version>")
        elif name == "publish-defaults":
            s.add_argument("--dist", type=Path, default=DIST)
        elif name == "promote":
            s.add_argument("name")
            s.add_argument("version")
            s.add_argument("--alias", default="prod", help="alias to move (default: prod)")
        else:
            s.add_argument("--name", default=None, help="only this model")
            s.add_argument("--json", action="store_true", help="machine-readable output")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - expected failures become one clear line
        from .errors import EXPECTED

        if isinstance(exc, EXPECTED):
            print(f"error: {exc}", file=sys.stderr)
            return 2
        raise


def _run(args: argparse.Namespace) -> int:
    if args.command == "build-defaults":
        from .build_defaults import build_defaults
        from .report import print_table

        results = build_defaults(dist=args.dist, force=args.force)
        print_table(results)
        return 0
    if args.command == "report":
        from .report import load_results, print_table

        results = load_results(args.dist)
        if args.print_:
            print_table(results)
            _print_keras(args.dist)
        print(f"report: {args.dist / 'report.md'}")
        return 0
    if args.command == "build":
        variants = [v.strip() for v in args.variants.split(",") if v.strip()]
        labels = [v.strip() for v in args.labels.split(",") if v.strip()] or None
        if args.task not in ("classify", "embed"):
            raise ValueError(f"unknown task {args.task!r}: expected classify or embed")
        if _is_keras(args.source):
            built = _build_keras(args, variants, labels)
        else:
            from .build import build_user_model

            built = build_user_model(args.source, args.task, args.name, args.out, variants=variants,
                                     prune=args.prune, labels=labels, max_length=args.max_length or 128)
        for variant, path in built.items():
            print(f"{variant}: {path}")
        return 0
    return _registry(args)


def _print_keras(dist: Path) -> None:
    """The Keras example's rows, when its test (or `python -m model_artifacts.keras_example --report`) wrote them."""
    from .keras_report import comparison_rows, load_keras_results

    keras = load_keras_results(dist)
    for row in comparison_rows(keras, None)[1:] if keras else []:
        print("  ".join(row))


def _is_keras(source: Path) -> bool:
    """A .keras file, or a TensorFlow SavedModel directory (refused with the way out)."""
    return source.suffix in (".keras", ".h5") or (source / "saved_model.pb").is_file()


def _build_keras(args: argparse.Namespace, variants: list[str], labels: list[str] | None) -> dict[str, Path]:
    from .keras_build import build_keras_model
    from .keras_source import inspect_saved
    from .tokenization import SourceError

    inspect_saved(args.source)
    if args.task != "classify":
        raise SourceError("Keras sources: only --task classify is supported")
    if args.prune:
        raise SourceError("--prune applies to Hugging Face models only")
    return build_keras_model(args.source, args.vocab, args.name, labels or [], args.out, variants=variants,
                             max_length=args.max_length, padding=args.padding, truncating=args.truncating,
                             eval_csv=args.eval_csv)


def _registry(args: argparse.Namespace) -> int:
    from . import publish as reg

    if not args.bucket:
        raise reg.RegistryError("no bucket: pass --bucket or set SNLP_ARTIFACTS_BUCKET")
    s3 = reg.make_client(args.endpoint_url)
    if args.command == "publish":
        print(f"published {reg.publish(s3, args.bucket, args.artifact_dir)} to s3://{args.bucket}")
    elif args.command == "publish-defaults":
        for ref in reg.publish_defaults(s3, args.bucket, args.dist, DEFAULT_MODELS):
            print(ref)
    elif args.command == "promote":
        aliases = reg.promote(s3, args.bucket, args.name, args.version, args.alias)
        print(f"{args.name}: {args.alias} -> {args.version}  (aliases: {json.dumps(aliases, sort_keys=True)})")
    else:
        listing = reg.list_registry(s3, args.bucket, args.name)
        if args.json:
            print(json.dumps(listing, indent=2))
        else:
            print(reg.format_listing(listing))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

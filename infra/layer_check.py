"""Import the built x86_64 layers under python3.12 and run a model with them, as Lambda would.

    python -m infra.layer_check [--python /root/.pyenv/versions/3.12.1/bin/python3.12]

The child interpreter runs with -S (no site-packages), so numpy/onnxruntime/tokenizers can only
come from layers/build/runtime-x86_64/python and flask/powertools from layers/build/aws-x86_64/python.
It loads the real int8 sentiment model from model_artifacts/dist if `make models` built it, else a
tiny onnx.helper artifact, and compares the probabilities with the same model run here (3.11).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LAYERS = REPO / "layers" / "build"
DIST = REPO / "model_artifacts" / "dist"
TEXTS = ["what a great day", "this is awful", "the food was ok", "naïve café 😀"]
TOLERANCE = 1e-4  # same onnxruntime version, same CPU: only float summation order may differ

CHILD = r"""
import json, sys
sys.path[:0] = sys.argv[1].split(":")
import numpy, onnxruntime, tokenizers
from functions.nlp.model import InferenceModel
for mod in (numpy, onnxruntime, tokenizers):
    assert mod.__file__.startswith(sys.argv[2]), (mod.__name__, mod.__file__)
import flask, serverless_wsgi, markupsafe._speedups, orjson
from aws_lambda_powertools import Logger, Metrics
model = InferenceModel.from_dir(sys.argv[3], threads=1)
out = model.run(json.loads(sys.argv[4])).outputs
print(json.dumps({"python": sys.version.split()[0], "numpy": numpy.__version__,
                  "onnxruntime": onnxruntime.__version__, "tokenizers": tokenizers.__version__,
                  "outputs": out.tolist()}))
"""


def find_python312(explicit: str | None) -> str:
    pyenv = sorted(Path.home().glob(".pyenv/versions/3.12*/bin/python3.12"))
    candidates = [explicit] if explicit else [*map(str, pyenv), shutil.which("python3.12")]
    for cand in candidates:
        # a pyenv shim exists even when its version is not selected: run it to be sure
        if cand and subprocess.run([cand, "-c", "pass"], capture_output=True).returncode == 0:
            return cand
    raise SystemExit("python3.12 not found: install it (pyenv install 3.12) or pass --python")


def model_dir(tmp: Path) -> tuple[Path, str]:
    from functions.store.layout import local_aliases

    aliases = local_aliases(DIST, "sentiment")
    if aliases is not None:
        version = aliases.get("int8") or aliases["prod"]
        return DIST / "sentiment" / version, f"sentiment@{version} (int8)"
    from infra.local.tiny_artifact import write_artifact  # no model built: a tiny onnx.helper one

    write_artifact(tmp / "tiny", "classify")
    return tmp / "tiny", "tiny onnx.helper classifier (make models not run)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python")
    parser.add_argument("--arch", default="x86_64")
    args = parser.parse_args(argv)
    runtime = LAYERS / f"runtime-{args.arch}" / "python"
    aws = LAYERS / f"aws-{args.arch}" / "python"
    for layer in (runtime, aws):
        if not layer.is_dir():
            raise SystemExit(f"{layer} missing: run `python layers/build.py` first")
    py = find_python312(args.python)
    with tempfile.TemporaryDirectory() as tmp:
        mdir, label = model_dir(Path(tmp))
        path = ":".join(map(str, (runtime, aws, REPO)))
        res = subprocess.run([py, "-S", "-c", CHILD, path, str(runtime), str(mdir), json.dumps(TEXTS)],
                             capture_output=True, text=True, cwd=tmp)
        if res.returncode != 0:
            print(res.stdout, res.stderr, sep="\n", file=sys.stderr)
            print(f"error: the layer does not import/run under {py}", file=sys.stderr)
            return 1
        child = json.loads(res.stdout.strip().splitlines()[-1])
        from functions.nlp.model import InferenceModel
        import numpy as np

        expected = InferenceModel.from_dir(mdir, threads=1).run(TEXTS).outputs
    diff = float(np.max(np.abs(np.asarray(child["outputs"]) - expected)))
    print(f"layer check: python {child['python']} numpy {child['numpy']} onnxruntime "
          f"{child['onnxruntime']} tokenizers {child['tokenizers']}; model {label}; "
          f"max |diff| vs host = {diff:.2e} (tolerance {TOLERANCE})")
    if not diff <= TOLERANCE:
        print("error: outputs under the layer differ from the host run", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

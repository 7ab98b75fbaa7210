"""The training core ships to Lambda: numpy, the inference core and the stdlib; onnx only in compose
and publishing (the train function's layer); never scikit-learn, torch or a web framework."""
from __future__ import annotations

import sys
from pathlib import Path

import functions.train
from tests.support.imports import top_level_imports

ALLOWED = {"numpy", "functions", "__future__"}
ONNX_USERS = {"compose.py", "features.py"}  # publishing imports compose lazily, model_artifacts.publish lazily


def test_train_core_imports():
    stdlib = set(sys.stdlib_module_names)
    root = Path(functions.train.__file__).parent
    for path in root.glob("*.py"):
        imported = top_level_imports(path) - stdlib
        allowed = ALLOWED | ({"onnx"} if path.name in ONNX_USERS else set())
        if path.name in ("handler.py", "worker.py", "publishing.py"):
            allowed |= {"boto3", "botocore", "aws_lambda_powertools", "model_artifacts", "onnx"}
        assert imported <= allowed, f"{path.name} imports {imported - allowed}"

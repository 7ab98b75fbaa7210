"""functions/nlp must stay pure: it ships to Lambda and is imported at cold start."""
from __future__ import annotations

from pathlib import Path

import functions.nlp
from tests.support.imports import top_level_imports

ALLOWED = {"numpy", "onnxruntime", "tokenizers", "__future__"}
FORBIDDEN = {"boto3", "botocore", "flask", "aws_lambda_powertools", "torch", "transformers", "serverless_wsgi"}


def test_core_imports_only_numpy_onnxruntime_tokenizers_and_stdlib():
    import sys

    stdlib = set(sys.stdlib_module_names)
    core = Path(functions.nlp.__file__).parent
    for path in core.rglob("*.py"):
        imported = top_level_imports(path)
        assert not imported & FORBIDDEN, f"{path.name} imports {imported & FORBIDDEN}"
        assert imported <= ALLOWED | stdlib, f"{path.name} imports {imported - ALLOWED - stdlib}"


def test_nothing_under_functions_imports_torch_or_transformers():
    root = Path(functions.nlp.__file__).parent.parent
    for path in root.rglob("*.py"):
        assert not top_level_imports(path) & {"torch", "transformers", "keras", "tensorflow", "sklearn"}, path

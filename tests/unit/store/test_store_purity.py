"""functions/store is imported by both Lambdas: no web framework, no Powertools, boto3 in one place."""
from __future__ import annotations

from pathlib import Path

import functions.store
from tests.support.imports import top_level_imports

STORE = Path(functions.store.__file__).parent


def test_store_imports_no_flask_powertools_torch():
    for path in STORE.rglob("*.py"):
        bad = top_level_imports(path) & {"flask", "aws_lambda_powertools", "torch", "transformers", "serverless_wsgi"}
        assert not bad, f"{path.name} imports {bad}"


def test_only_clients_module_imports_boto3():
    for path in STORE.rglob("*.py"):
        if path.name != "clients.py":
            assert "boto3" not in top_level_imports(path), path.name

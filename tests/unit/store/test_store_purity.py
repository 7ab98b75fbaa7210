"""functions/store is imported by both Lambdas: no web framework, no Powertools, boto3 in one place."""
from __future__ import annotations

import ast
from pathlib import Path

import functions.store

STORE = Path(functions.store.__file__).parent


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_store_imports_no_flask_powertools_torch():
    for path in STORE.rglob("*.py"):
        bad = _imports(path) & {"flask", "aws_lambda_powertools", "torch", "transformers", "serverless_wsgi"}
        assert not bad, f"{path.name} imports {bad}"


def test_only_clients_module_imports_boto3():
    for path in STORE.rglob("*.py"):
        if path.name != "clients.py":
            assert "boto3" not in _imports(path), path.name

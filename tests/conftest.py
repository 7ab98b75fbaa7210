"""Shared fixtures. Engineers add fixtures in their own test folders' conftest.py files."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from infra.local.tiny_artifact import write_artifact, write_registry

REPO = Path(__file__).resolve().parent.parent
DIST = REPO / "model_artifacts" / "dist"


@pytest.fixture(autouse=True)
def _aws_test_env(monkeypatch):
    """Never talk to real AWS from tests."""
    for var, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SECURITY_TOKEN": "testing", "AWS_SESSION_TOKEN": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(scope="session")
def tiny_classify_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tiny") / "classify"
    write_artifact(path, "classify")
    return path


@pytest.fixture(scope="session")
def tiny_embed_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tiny") / "embed"
    write_artifact(path, "embed")
    return path


@pytest.fixture(scope="session")
def tiny_registry(tmp_path_factory) -> Path:
    """Two tiny models (tiny-sentiment, tiny-embed) with two versions each and aliases."""
    root = tmp_path_factory.mktemp("registry")
    write_registry(root)
    return root


def built_model_dir(name: str, alias: str = "prod") -> Path:
    """The real default model built by `make models`, or skip with the reason."""
    import json

    aliases = DIST / name / "aliases.json"
    if not aliases.is_file():
        pytest.skip(f"{name} not built: run `make models` first")
    version = json.loads(aliases.read_text())[alias]
    return DIST / name / version

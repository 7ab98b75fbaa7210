from __future__ import annotations

import os

import pytest

from tests.model_artifacts_fixtures import write_tiny_bert

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_bert_classify(tmp_path_factory):
    return write_tiny_bert(tmp_path_factory.mktemp("tinybert") / "classify", "classify")


@pytest.fixture(scope="session")
def tiny_bert_embed(tmp_path_factory):
    return write_tiny_bert(tmp_path_factory.mktemp("tinybert") / "embed", "embed")

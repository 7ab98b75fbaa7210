"""The default build's cache key covers exactly the code that can shape the artifacts."""
from __future__ import annotations

from model_artifacts import cache
from model_artifacts.config import PACKAGE_DIR


def test_closure_follows_relative_imports_at_any_depth():
    names = {p.stem for p in cache.module_closure("defaults")}
    # direct imports of defaults.py, and quantize.py only through build.py
    assert {"defaults", "build", "export", "quantize", "tokenization", "train", "report"} <= names
    assert all((PACKAGE_DIR / f"{n}.py").is_file() for n in names)


def test_closure_leaves_out_modules_the_build_never_imports():
    names = {p.stem for p in cache.module_closure("defaults")}
    # the CLI and the S3 registry do not shape the built files: editing them must not force a rebuild
    assert "cli" not in names and "publish" not in names and "__main__" not in names


def test_closure_of_a_leaf_module_is_itself():
    assert [p.stem for p in cache.module_closure("config")] == ["config"]

"""infra/function_code.py: which files the function zip ships, their checked-hash pycs, the zip check."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from infra import function_code as fc
from infra.package import PackageError, check_function_pycs

REPO = Path(__file__).resolve().parents[3]
TAG = sys.implementation.cache_tag


def _fake_repo(root: Path) -> Path:
    """serverless.yml's real patterns over a few files: shipped, not shipped, stale caches."""
    (root / "serverless.yml").write_text((REPO / "serverless.yml").read_text())
    for rel, text in {"functions/__init__.py": "", "functions/api/handler.py": "X = 1\n",
                      "functions/web/page.js": "//", "functions/web/vendor/x.mjs": "//",
                      "model_artifacts/__init__.py": "", "model_artifacts/publish.py": "Y = 2\n",
                      "model_artifacts/train.py": "import torch\n",  # not shipped: not compiled
                      "infra/other.py": "Z = 3\n"}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    stale = root / "functions/api/__pycache__" / f"gone.{TAG}.pyc"  # its source was deleted
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    return root


def test_every_shipped_py_gets_a_checked_hash_pyc(tmp_path):
    repo = _fake_repo(tmp_path)
    pycs = fc.compile_function_code(sys.executable, repo)
    sources = fc.shipped_sources(repo)
    assert sources == ["functions/__init__.py", "functions/api/handler.py",
                       "model_artifacts/__init__.py", "model_artifacts/publish.py"]
    assert pycs == sorted(fc.pyc_path(s, TAG) for s in sources)
    for source in sources:
        header = (repo / fc.pyc_path(source, TAG)).read_bytes()[:16]
        assert header[:4] == importlib.util.MAGIC_NUMBER
        assert int.from_bytes(header[4:8], "little") == 0b11  # hash-based, check_source
        assert header[8:16] == importlib.util.source_hash((repo / source).read_bytes())
    assert not (repo / "functions/api/__pycache__" / f"gone.{TAG}.pyc").exists()
    assert not list((repo / "infra").rglob("*.pyc"))
    assert not (repo / "model_artifacts/__pycache__" / f"train.{TAG}.pyc").exists()


def test_an_edited_source_invalidates_its_pyc(tmp_path):
    """checked-hash: the import compares the source's hash, not its mtime (osls fixes those)."""
    repo = _fake_repo(tmp_path)
    fc.compile_function_code(sys.executable, repo)
    script = ("import sys; sys.path.insert(0, sys.argv[1]); sys.dont_write_bytecode = True; "
              "import functions.api.handler as h; print(h.X)")
    run = lambda: subprocess.run([sys.executable, "-c", script, str(repo)], capture_output=True,  # noqa: E731
                                 text=True, check=True).stdout.strip()
    assert run() == "1"
    (repo / "functions/api/handler.py").write_text("X = 9\n")  # same size, same second: mtime pycs miss it
    assert run() == "9"


def test_the_real_repo_ships_functions_and_the_publisher_modules_only():
    sources = fc.shipped_sources(REPO)
    assert "functions/api/handler.py" in sources and "model_artifacts/publish.py" in sources
    assert all(s.startswith(("functions/", "model_artifacts/")) for s in sources)
    assert "model_artifacts/train.py" not in sources and "model_artifacts/build.py" not in sources


@pytest.mark.parametrize("path, shipped", [
    ("functions/api/handler.py", True),
    ("functions/api/__pycache__/handler.cpython-312.pyc", True),
    ("functions/__pycache__/__init__.cpython-312.pyc", True),
    ("functions/api/__pycache__/handler.cpython-311.pyc", False),
    ("functions/api/__pycache__/handler.cpython-312.opt-1.pyc", False),
    ("functions/api/handler.pyc", False),
    ("model_artifacts/publish.py", True),
    ("model_artifacts/__pycache__/publish.cpython-312.pyc", True),
    ("model_artifacts/__pycache__/publish.cpython-311.pyc", False),
    ("model_artifacts/train.py", False),
    ("model_artifacts/__pycache__/train.cpython-312.pyc", False),
    ("infra/package.py", False),
    ("serverless.yml", False),
])
def test_serverless_yml_ships_only_the_lambda_pycs(path, shipped):
    assert fc.is_shipped(path, fc.package_patterns(REPO)) is shipped


def test_each_listed_model_artifacts_module_ships_with_its_pyc():
    patterns = fc.package_patterns(REPO)
    listed = [p for p in patterns if p.startswith("model_artifacts/") and p.endswith(".py")]
    assert listed
    for source in listed:
        assert fc.pyc_path(source, fc.LAMBDA_TAG) in patterns


def test_globs_follow_micromatch():
    assert fc.is_shipped("a/b/c.py", ["a/**"]) and fc.is_shipped("a/c.py", ["a/**/*.py"])
    assert not fc.is_shipped("a/b/c.py", ["a/*"]) and not fc.is_shipped("ab/c.py", ["a/**"])
    assert not fc.is_shipped("a/x.py", ["**", "!a/**"]) and fc.is_shipped("a/x.py", ["!**", "a/x.py"])
    with pytest.raises(ValueError):
        fc.is_shipped("a.py", ["{a,b}.py"])


def _zip(path: Path, names: list[str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name in names:
            zf.writestr(name, b"")
    return path


def test_the_zip_check_names_every_py_without_its_pyc(tmp_path):
    good = _zip(tmp_path / "ok.zip", ["functions/a.py", "functions/__pycache__/a.cpython-312.pyc",
                                     "functions/web/page.js"])
    assert fc.zip_pyc_problems(good) == []
    assert "every .py ships" in check_function_pycs(good, compiled=True)
    bad = _zip(tmp_path / "bad.zip", ["functions/a.py", "functions/b.py", "functions/__pycache__/a.cpython-312.pyc",
                                     "functions/__pycache__/a.cpython-311.pyc", "functions/__pycache__/c.cpython-312.pyc"])
    assert fc.zip_pyc_problems(bad) == [
        "functions/__pycache__/a.cpython-311.pyc: not a cpython-312 pyc",
        "functions/__pycache__/c.cpython-312.pyc: its source functions/c.py is not shipped",
        "functions/b.py: no cpython-312 pyc"]
    with pytest.raises(PackageError, match=r"bad.zip: 3 pyc problem\(s\).*functions/b.py: no cpython-312 pyc"):
        check_function_pycs(bad, compiled=True)


def test_without_python312_missing_pycs_are_noted_not_fatal(tmp_path, monkeypatch, capsys):
    import infra.package as package

    monkeypatch.setattr(package, "find_python312", lambda: None)
    assert package.compile_for_lambda() is False
    assert "python3.12 not found" in capsys.readouterr().out
    sources_only = _zip(tmp_path / "src.zip", ["functions/a.py"])
    assert "1 .py without a cpython-312 pyc" in check_function_pycs(sources_only, compiled=False)
    with pytest.raises(PackageError, match="not a cpython-312 pyc"):  # a wrong pyc still stops it
        check_function_pycs(_zip(tmp_path / "w.zip", ["functions/a.py", "functions/__pycache__/a.cpython-311.pyc"]),
                            compiled=False)


def test_find_python312_is_the_layers_search(monkeypatch):
    monkeypatch.setenv("SNLP_PY312", sys.executable)  # the explicit override layers/build.py honours
    assert fc.find_python312() == sys.executable

"""layers/: pins match pyproject, stripping keeps what runs and drops what does not."""
from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
LAYERS = REPO / "layers"


def _load_build():
    spec = importlib.util.spec_from_file_location("layers_build", LAYERS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load_build()


def pins(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            out[name.lower().replace("_", "-")] = version
    return out


def test_runtime_layer_pins_match_pyproject_runtime_dependencies():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    layer = pins(LAYERS / "requirements-runtime.txt")
    assert set(layer) == {re.split(r"[<>=!]", d)[0].lower() for d in deps}
    for dep in deps:
        name = re.split(r"[<>=!]", dep)[0].lower()
        if "==" in dep:
            assert layer[name] == dep.split("==")[1], dep
    major = int(layer["numpy"].split(".")[0])
    assert 1 <= major < 3  # pyproject: numpy>=1.26,<3


def test_aws_layer_pins_match_pyproject_aws_extra_and_leave_boto3_to_the_runtime():
    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["aws"]
    layer = pins(LAYERS / "requirements-aws.txt")
    assert "boto3" not in layer and "botocore" not in layer
    for dep in extra:
        name = re.split(r"[<>=!\[]", dep)[0].lower()
        if name == "boto3":
            continue
        assert name in layer, f"{name} (pyproject aws extra) missing from the aws layer"
        if "==" in dep:
            assert layer[name] == dep.split("==")[1]


def _fake_site(root: Path) -> Path:
    files = ["numpy/__init__.py", "numpy/_core/multiarray.py", "numpy/_core/tests/test_x.py",
             "numpy/_core/include/numpy/x.h", "numpy/f2py/__init__.py", "numpy/__init__.pyi",
             "numpy/__pycache__/x.cpython-312.pyc", "numpy.libs/libopenblas.so",
             "onnxruntime/__init__.py", "onnxruntime/capi/_pybind_state.py",
             "onnxruntime/capi/onnxruntime_pybind11_state.cpython-312-x86_64-linux-gnu.so",
             "onnxruntime/capi/libonnxruntime.so.1.23.2", "onnxruntime/capi/libonnxruntime_providers_shared.so",
             "onnxruntime/transformers/fusion.py", "onnxruntime/quantization/q.py", "onnxruntime/tools/t.py",
             "tokenizers/__init__.py", "tokenizers/tokenizers.abi3.so", "tokenizers/tools/visualizer.py"]
    for rel in files:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    return root


def test_strip_tree_drops_tools_tests_and_headers_and_keeps_the_runtime(tmp_path, monkeypatch):
    site = _fake_site(tmp_path / "python")
    monkeypatch.setattr(build, "_strip_tool", lambda arch: None)  # fake .so files cannot be stripped
    notes = build.strip_tree(site, "x86_64")
    left = {p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()}
    assert left == {"numpy/__init__.py", "numpy/_core/multiarray.py", "numpy.libs/libopenblas.so",
                    "onnxruntime/__init__.py", "onnxruntime/capi/_pybind_state.py",
                    "onnxruntime/capi/onnxruntime_pybind11_state.cpython-312-x86_64-linux-gnu.so",
                    "onnxruntime/capi/libonnxruntime_providers_shared.so",
                    "tokenizers/__init__.py", "tokenizers/tokenizers.abi3.so"}
    assert notes and "no strip tool" in notes[0]


def test_grafted_libs_are_never_stripped(tmp_path, monkeypatch):
    site = _fake_site(tmp_path / "python")
    stripped = []
    monkeypatch.setattr(build, "_strip_tool", lambda arch: "strip")
    monkeypatch.setattr(build.subprocess, "run",
                        lambda cmd, **kw: stripped.append(Path(cmd[-1]).name) or
                        build.subprocess.CompletedProcess(cmd, 0, "", ""))
    build.strip_tree(site, "x86_64")
    assert "libopenblas.so" not in stripped  # patchelf-edited: strip corrupts it
    assert "tokenizers.abi3.so" in stripped


def test_cache_key_depends_on_arch_and_requirements():
    assert build.cache_key("runtime", "x86_64", False) != build.cache_key("runtime", "arm64", False)
    assert build.cache_key("runtime", "x86_64", False) != build.cache_key("aws", "x86_64", False)
    assert build.cache_key("runtime", "x86_64", False) != build.cache_key("runtime", "x86_64", True)


@pytest.mark.parametrize("arch, tag", [("x86_64", "manylinux_2_28_x86_64"), ("arm64", "manylinux_2_28_aarch64")])
def test_pip_gets_both_platform_tags_for_python312(monkeypatch, tmp_path, arch, tag):
    calls = []
    monkeypatch.setattr(build.subprocess, "run", lambda cmd, **kw: calls.append(cmd))
    build.pip_install(LAYERS / "requirements-runtime.txt", tmp_path, arch)
    cmd = " ".join(calls[0])
    assert f"--platform {tag}" in cmd and "--platform manylinux2014_" in cmd
    assert "--python-version 3.12" in cmd and "--abi cp312" in cmd and "--only-binary=:all:" in cmd
    assert "--no-deps" in cmd

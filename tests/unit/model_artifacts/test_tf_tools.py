"""The TensorFlow tools venv's bookkeeping and how a script's failure reaches the user (no TensorFlow needed)."""
from __future__ import annotations

import json
import stat

import pytest

from model_artifacts.tf_tools import TOOLS_PINS, ToolsError, run_script, tools_dir, tools_python
from model_artifacts.tokenization import SourceError


def test_the_venv_is_keyed_by_every_pin_and_used_only_when_complete(tmp_path):
    venv = tools_dir(tmp_path)
    assert venv.parent == tmp_path
    assert all(pin.split("==")[1] in venv.name for pin in TOOLS_PINS)
    (venv / "bin").mkdir(parents=True)
    assert tools_python(tmp_path) is None  # half-installed (no .ok): created again, not used
    (venv / ".ok").write_text(json.dumps({"pins": list(TOOLS_PINS)}))
    assert tools_python(tmp_path) == venv / "bin" / "python"


def fake_python(tmp_path, stderr: str, code: int):
    path = tmp_path / "python"
    path.write_text(f"#!/bin/sh\nprintf '%s\\n' {json.dumps(stderr)} >&2\nexit {code}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_a_refusal_in_the_tools_venv_is_one_clear_line(tmp_path):
    python = fake_python(tmp_path, "some TensorFlow noise\nConversionError: signature 'x' takes 2 inputs", 2)
    with pytest.raises(SourceError, match=r"^signature 'x' takes 2 inputs$"):
        run_script("tf_convert.py", ["convert", "r.json"], python)


def test_a_crash_in_the_tools_venv_keeps_its_traceback_tail(tmp_path):
    python = fake_python(tmp_path, "Traceback (most recent call last):\nKeyError: 'rows'", 1)
    with pytest.raises(ToolsError, match=r"tf_convert.py failed in the tools venv:.*KeyError: 'rows'"):
        run_script("tf_convert.py", ["convert", "r.json"], python)

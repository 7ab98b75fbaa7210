"""The function code serverless.yml ships, byte-compiled for the interpreter that imports it.

/var/task is read-only on Lambda, so a function zip without __pycache__ compiles every one of its
modules at each cold start (measured: `compile` was 60-77 ms of the api import). `make package`
compiles the shipped sources with python3.12 and serverless.yml ships only those cpython-312 pycs;
the cold-start bench compiles the same files for its own interpreter, so it measures the same thing.

Which files ship is read from serverless.yml's `package.patterns` (evaluated as osls does: in
order, the last matching pattern wins), so the rule lives in one place. The pycs are checked-hash:
they sit in the developer's source tree, so a later edit of a source must invalidate its pyc, and
a hash (unlike an mtime) survives osls zipping every file with the same fixed timestamp.
"""
from __future__ import annotations

import importlib.util
import re
import subprocess
import zipfile
from functools import lru_cache
from pathlib import Path, PurePosixPath

import yaml

REPO = Path(__file__).resolve().parent.parent
LAMBDA_TAG = "cpython-312"  # provider.runtime python3.12
_GLOB_CHARS = re.compile(r"[*?\[{]")


def package_patterns(repo: Path = REPO) -> list[str]:
    """serverless.yml's service-level `package.patterns`, as written."""
    return list(yaml.safe_load((repo / "serverless.yml").read_text())["package"]["patterns"])


@lru_cache(maxsize=None)
def _pattern_re(pattern: str) -> re.Pattern[str]:
    """A micromatch-style glob as a regex: `**` spans directories, `*` and `?` stay in one."""
    if "{" in pattern or "[" in pattern:
        raise ValueError(f"unsupported glob in package pattern {pattern!r} (braces/classes)")
    parts = pattern.split("/")
    out = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            out.append(".*" if last else "(?:.*/)?")
            continue
        seg = "".join("[^/]*" if ch == "*" else "[^/]" if ch == "?" else re.escape(ch) for ch in part)
        out.append(seg if last else seg + "/")
    return re.compile("".join(out))


def is_shipped(path: str, patterns: list[str]) -> bool:
    """Whether the repo-relative posix `path` ends up in the function zip under `patterns`."""
    shipped = False
    for pattern in patterns:
        exclude = pattern.startswith("!")
        if _pattern_re(pattern[1:] if exclude else pattern).fullmatch(path):
            shipped = not exclude
    return shipped


def shipped_files(repo: Path = REPO, patterns: list[str] | None = None) -> list[str]:
    """Repo-relative paths of the files the function zip holds (found under the literal prefix
    of each include pattern, so node_modules, .venv and the model dist are never walked)."""
    patterns = package_patterns(repo) if patterns is None else patterns
    roots = set()
    for pattern in patterns:
        if pattern.startswith("!"):
            continue
        literal = []
        for part in pattern.split("/"):
            if _GLOB_CHARS.search(part):
                break
            literal.append(part)
        roots.add("/".join(literal))
    found = set()
    for root in sorted(roots):
        base = repo / root if root else repo
        candidates = [base] if base.is_file() else (p for p in base.rglob("*") if p.is_file())
        for path in candidates:
            rel = path.relative_to(repo).as_posix()
            if is_shipped(rel, patterns):
                found.add(rel)
    return sorted(found)


def shipped_sources(repo: Path = REPO, patterns: list[str] | None = None) -> list[str]:
    return [p for p in shipped_files(repo, patterns) if p.endswith(".py")]


def pyc_path(source: str, tag: str) -> str:
    """`a/b.py` -> `a/__pycache__/b.<tag>.pyc` (no optimisation level: Lambda runs without -O)."""
    src = PurePosixPath(source)
    return str(src.parent / "__pycache__" / f"{src.stem}.{tag}.pyc")


def cache_tag(python: str) -> str:
    """The pyc tag of the interpreter at `python` (cpython-312 for the Lambda runtime)."""
    return subprocess.run([python, "-c", "import sys; print(sys.implementation.cache_tag)"],
                          capture_output=True, text=True, check=True).stdout.strip()


def find_python312() -> str | None:
    """layers/build.py's search (SNLP_PY312, pyenv, PATH): the layers and the function code
    are compiled by the same interpreter."""
    spec = importlib.util.spec_from_file_location("layers_build", REPO / "layers" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.find_python312()


def compile_function_code(python: str, repo: Path = REPO, patterns: list[str] | None = None) -> list[str]:
    """Byte-compile every shipped .py with `python` (checked-hash) into its __pycache__; return
    the pycs (repo-relative). Pycs of this tag left behind by a deleted or renamed source are
    removed first (`functions/**` ships every cpython-312 pyc: the zip would carry them)."""
    patterns = package_patterns(repo) if patterns is None else patterns
    sources = shipped_sources(repo, patterns)
    tag = cache_tag(python)
    wanted = {pyc_path(s, tag) for s in sources}
    for cache_dir in {(repo / s).parent / "__pycache__" for s in sources}:
        for pyc in cache_dir.glob(f"*.{tag}.pyc"):
            if not (cache_dir.parent / f"{pyc.name.partition('.')[0]}.py").exists():
                pyc.unlink()
    if sources:
        # -q lists only errors (a syntax error fails the step, as it would fail the import)
        subprocess.run([python, "-m", "compileall", "-q", "--invalidation-mode", "checked-hash", *sources],
                       cwd=repo, check=True)
    missing = sorted(p for p in wanted if not (repo / p).is_file())
    if missing:
        raise RuntimeError(f"compileall wrote no pyc for: {', '.join(missing)}")
    return sorted(wanted)


def zip_pyc_problems(zip_path: Path, tag: str = LAMBDA_TAG) -> list[str]:
    """What is wrong with the pycs in a function zip: a .py without its `tag` pyc, a pyc of
    another interpreter or optimisation level, a pyc whose source is not in the zip."""
    with zipfile.ZipFile(zip_path) as zf:
        names = set(zf.namelist())
    problems = []
    for name in sorted(names):
        if name.endswith(".py") and pyc_path(name, tag) not in names:
            problems.append(f"{name}: no {tag} pyc")
        elif name.endswith(".pyc"):
            pyc = PurePosixPath(name)
            stem, _, rest = pyc.name.partition(".")
            source = str(pyc.parent.parent / f"{stem}.py")
            if pyc.parent.name != "__pycache__" or rest != f"{tag}.pyc":
                problems.append(f"{name}: not a {tag} pyc")
            elif source not in names:
                problems.append(f"{name}: its source {source} is not shipped")
    return problems

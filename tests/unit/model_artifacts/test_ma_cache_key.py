"""The default build's cache key covers exactly the code that can shape the artifacts."""
from __future__ import annotations

from model_artifacts import cache


def test_closure_follows_relative_imports_at_any_depth():
    names = {p.stem for p in cache.module_closure("build_defaults")}
    # direct imports of build_defaults.py, and quantize.py only through build.py
    assert {"build_defaults", "build", "export", "quantize", "tokenization", "train", "report"} <= names
    assert all(p.is_file() for p in cache.module_closure("build_defaults"))


def test_closure_leaves_out_modules_the_build_never_imports():
    names = {p.stem for p in cache.module_closure("build_defaults")}
    # the CLI and the S3 registry do not shape the built files: editing them must not force a rebuild
    assert "cli" not in names and "publish" not in names and "__main__" not in names


def test_closure_of_a_leaf_module_is_itself():
    assert [p.stem for p in cache.module_closure("config")] == ["config"]


def _repo_names(entry: str) -> set[str]:
    return {str(p.relative_to(cache.REPO_ROOT)) for p in cache.module_closure(entry)}


def test_closure_follows_the_runtime_the_build_runs_through():
    # parity, evaluation and golden texts run through functions.nlp: a change there reshapes results
    names = _repo_names("build_defaults")
    assert {"functions/nlp/model.py", "functions/nlp/session.py", "functions/nlp/text_encoder.py",
            "functions/nlp/overflow.py", "functions/nlp/manifest.py"} <= names
    # only what the build imports: not the API, the store or the package re-export files
    assert not any(n.startswith(("functions/api", "functions/store")) or n.endswith("__init__.py") for n in names)


def test_training_keys_hash_the_tokenisation_rules_but_not_the_session_code():
    # the fine-tune and distillation are fed by the runtime's tokenisation and padding rules, so those
    # shape them; session creation and the micro-batch loop do not, and editing them must not retrain
    for entry in ("finetune_stage", "distill_stage"):
        names = _repo_names(entry)
        assert {"functions/nlp/text_encoder.py", "functions/nlp/overflow.py", "model_artifacts/tokenization.py",
                "model_artifacts/train.py"} <= names
        assert "functions/nlp/session.py" not in names and "functions/nlp/model.py" not in names


def test_key_changes_when_a_runtime_module_changes(tmp_path, monkeypatch):
    src = tmp_path / "functions" / "nlp"
    src.mkdir(parents=True)
    (src / "text_encoder.py").write_text("A = 1\n")
    monkeypatch.setattr(cache, "REPO_ROOT", tmp_path)
    before = cache.input_hash([src / "text_encoder.py"], (), {})
    (src / "text_encoder.py").write_text("A = 2\n")
    assert cache.input_hash([src / "text_encoder.py"], (), {}) != before

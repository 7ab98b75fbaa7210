"""The CLI reads the API's answers and draws progress without surprises."""
from __future__ import annotations

import pytest

from infra.cli import build_parser, main
from infra.cli_batch import count_lines, progress_line
from infra.cli_infer import label_scores, similarity_value, vectors


def test_label_scores_from_a_mapping_are_sorted():
    assert label_scores({"label": "positive", "scores": {"negative": 0.1, "positive": 0.7, "neutral": 0.2}}) == [
        ("positive", 0.7), ("neutral", 0.2), ("negative", 0.1)]


def test_label_scores_from_a_list_with_labels():
    assert label_scores({"probabilities": [0.2, 0.8]}, ["no", "yes"]) == [("yes", 0.8), ("no", 0.2)]


def test_vectors_and_similarity():
    assert vectors({"embeddings": [[1.0, 0.0], [0.0, 1.0]]}) == [[1.0, 0.0], [0.0, 1.0]]
    assert vectors({"data": [{"embedding": [0.5]}]}) == [[0.5]]
    assert similarity_value({"similarity": 0.25}) == 0.25
    assert similarity_value({"similarities": [0.5]}) == 0.5


def test_progress_line():
    assert "5/10 lines" in progress_line("running", 5, 10)
    assert "50.0%" in progress_line("running", 5, 10)
    assert "3 lines" in progress_line("queued", 3, None)


def test_count_lines(tmp_path):
    (tmp_path / "a.csv").write_text("id,text\n1,a\n2,b\n\n")
    (tmp_path / "a.jsonl").write_text('{"text":"a"}\n{"text":"b"}\n{"text":"c"}\n')
    assert count_lines(tmp_path / "a.csv") == 2
    assert count_lines(tmp_path / "a.jsonl") == 3


@pytest.mark.parametrize("argv", [["--help"], ["classify", "--help"], ["embed", "--help"],
                                  ["similarity", "--help"], ["batch", "--help"], ["batch", "submit", "--help"],
                                  ["batch", "status", "--help"], ["batch", "download", "--help"]])
def test_help_everywhere(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    assert "usage: snlp" in capsys.readouterr().out


def test_every_command_is_registered():
    commands = set(build_parser()._subparsers._group_actions[0].choices)
    assert {"classify", "embed", "similarity", "batch", "publish", "promote", "cost", "share"} <= commands


@pytest.mark.parametrize("argv, expected", [
    (["share", "m"], ("GET", None)),
    (["share", "m", "--add", "tok_0123456789abcdef", "--public"], ("PATCH", {"add": ["tok_0123456789abcdef"],
                                                                           "public": True})),
    (["share", "m", "--remove", "tok_0123456789abcdef", "--private"], ("PATCH", {"remove": ["tok_0123456789abcdef"],
                                                                               "public": False})),
    (["share", "m", "--none"], ("DELETE", None)),
])
def test_share_options_become_one_sharing_call(argv, expected):
    from infra.cli_models import share_request

    assert share_request(build_parser().parse_args(argv)) == expected


def test_share_none_alone():
    from infra.cli_common import CliError
    from infra.cli_models import share_request

    with pytest.raises(CliError):
        share_request(build_parser().parse_args(["share", "m", "--none", "--public"]))


@pytest.mark.parametrize("argv, expected", [
    (["publish", "--help"], ["-m", "model_artifacts", "publish", "--help"]),
    (["promote", "sentiment", "v2", "--alias", "prod"], ["-m", "model_artifacts", "promote", "sentiment", "v2",
                                                          "--alias", "prod"]),
    (["models", "--bucket", "b"], ["-m", "model_artifacts", "list", "--bucket", "b"]),
    (["cost", "estimate", "--requests-per-month", "5e6"], ["-m", "infra.cost", "estimate",
                                                           "--requests-per-month", "5e6"]),
])
def test_pipeline_and_cost_commands_pass_every_argument_on(argv, expected, monkeypatch):
    calls = []
    monkeypatch.setattr("subprocess.call", lambda cmd, **kw: calls.append(cmd[1:]) or 0)
    assert main(argv) == 0
    assert calls == [expected]

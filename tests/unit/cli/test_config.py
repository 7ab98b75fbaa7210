"""Where the CLI takes its API URL and token from: flags > env > config file > local stack."""
from __future__ import annotations

import argparse
import json

import pytest

from infra.cli_common import CliError, resolve


def _args(**kw):
    return argparse.Namespace(api_url=kw.get("api_url"), token=kw.get("token"))


@pytest.fixture()
def layers(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('api_url = "https://file.example"\ntoken = "file-token"\n')
    state = tmp_path / "state"
    state.mkdir()
    (state / "stack.json").write_text(json.dumps({"api_url": "http://127.0.0.1:9999"}))
    (state / "token").write_text("local-token\n")
    env = {"SNLP_CONFIG": str(cfg), "SNLP_API_URL": "https://env.example/", "SNLP_TOKEN": "env-token"}
    return env, state, cfg


def test_flags_win(layers):
    env, state, _ = layers
    got = resolve(_args(api_url="https://flag.example", token="flag-token"), env, state)
    assert (got.api_url, got.token) == ("https://flag.example", "flag-token")


def test_env_beats_config_file(layers):
    env, state, _ = layers
    got = resolve(_args(), env, state)
    assert (got.api_url, got.token) == ("https://env.example", "env-token")


def test_config_file_beats_local_stack(layers):
    env, state, _ = layers
    env = {"SNLP_CONFIG": env["SNLP_CONFIG"]}
    got = resolve(_args(), env, state)
    assert (got.api_url, got.token) == ("https://file.example", "file-token")


def test_local_stack_is_the_last_resort(layers, tmp_path):
    _, state, _ = layers
    got = resolve(_args(), {"SNLP_CONFIG": str(tmp_path / "absent.toml")}, state)
    assert (got.api_url, got.token) == ("http://127.0.0.1:9999", "local-token")


def test_layers_mix_per_key(layers):
    env, state, _ = layers
    got = resolve(_args(token="flag-token"), {"SNLP_CONFIG": env["SNLP_CONFIG"]}, state)
    assert (got.api_url, got.token) == ("https://file.example", "flag-token")


def test_a_broken_config_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "config.toml"
    bad.write_text("api_url = \n")
    with pytest.raises(CliError, match="cannot read the config file"):
        resolve(_args(), {"SNLP_CONFIG": str(bad)}, tmp_path)

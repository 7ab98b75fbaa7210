"""Read serverless.yml and the files it includes, without osls (for tests and tooling).

Only the two variable forms this repo uses for includes are expanded (``${file(path)}`` and
``${self:custom.api.<key>}`` for the api-type file); every other ``${...}`` stays as text, so
checks see the templates exactly as written. ``substitute`` fills the common ones for a stage.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from infra.config import StageConfig

REPO = Path(__file__).resolve().parent.parent
SERVERLESS_YML = REPO / "serverless.yml"
_FILE_RE = re.compile(r"^\$\{file\(([^)]+)\)\}$")
_API_RE = re.compile(r"^\$\{self:custom\.api\.(\w+)\}$")
STAGE_VAR_RE = re.compile(r"\$\{self:custom\.stage\.(\w+)(?:,\s*null)?\}")


def load(api_type: str = "http") -> dict[str, Any]:
    """serverless.yml with includes expanded and `resources` merged into one mapping."""
    doc = yaml.safe_load(SERVERLESS_YML.read_text())
    api = yaml.safe_load((REPO / "infra" / "serverless" / f"api-{api_type}.yml").read_text())
    doc = _expand(doc, api)
    merged: dict[str, Any] = {"Resources": {}, "Outputs": {}, "Conditions": {}, "extensions": {}}
    parts = doc["resources"] if isinstance(doc["resources"], list) else [doc["resources"]]
    for part in parts:
        for key, value in part.items():
            merged.setdefault(key, {}).update(value or {})
    doc["resources"] = merged
    return doc


def _expand(node: Any, api: dict[str, Any]) -> Any:
    if isinstance(node, str):
        if m := _FILE_RE.match(node):
            if m[1].endswith(".yml") and "${" not in m[1] and ":" not in node[node.index(")"):]:
                return _expand(yaml.safe_load((REPO / m[1]).read_text()), api)
        if m := _API_RE.match(node):
            return _expand(api[m[1]], api)
        return node
    if isinstance(node, dict):
        return {k: _expand(v, api) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand(v, api) for v in node]
    return node


def substitute(text: str, stage: StageConfig, account_id: str, service: str = "serverless-nlp") -> str:
    """Fill ${self:custom.prefix}, ${sls:stage}, ${self:service}, ${AWS::AccountId}, stage keys."""
    text = (text.replace("${self:custom.prefix}", f"{service}-{stage.stage}")
            .replace("${sls:stage}", stage.stage).replace("${self:service}", service)
            .replace("${AWS::AccountId}", account_id))
    return STAGE_VAR_RE.sub(lambda m: str(getattr(stage, m[1])), text)

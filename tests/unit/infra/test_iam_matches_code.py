"""Least privilege that matches the code: each function's role grants exactly the AWS actions
its code calls, on the resources it calls them on, and the api reaches the tokens table only
through partition-key conditions (read TOKEN#/USAGE#, write USAGE#).

The calls are found in the source: every boto3 client method named like an S3, DynamoDB or SQS
operation (the three services share no operation name), plus presigned URLs and paginators by
their operation argument. Each module that calls AWS is assigned the resource it works on;
modules a function imports but never calls AWS through are listed with the reason. Granularity:
(action, resource) -- prefixes inside a bucket are checked by the IAM tests next to this one.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
IAM = REPO / "infra" / "serverless" / "iam.yml"

FUNCTIONS = {
    "api": {"role": "ApiRole", "handler": "functions.api.handler",
            "modules": {"functions.auth.tokens": "TokensTable", "functions.auth.usage": "TokensTable",
                        "functions.store.s3_reader": "ArtifactsBucket", "functions.batch.jobs": "DataBucket",
                        "functions.batch.ledger": "JobsTable",
                        # an owner's share later / unshare writes models/<name>/sharing.json
                        "functions.store.sharing": "ArtifactsBucket",
                        # the OpenAI Batch API: files/ (request files), incoming/ (the job's input)
                        "functions.batch.openai_batch": "DataBucket",
                        # /v1/train: rows and evaluations under train/, one queue message per job step
                        "functions.train.jobs": "DataBucket", "functions.train.queue": "TrainQueue",
                        # edge mode: presigned GETs of models/ and web/ (the WebAssembly runtime)
                        "functions.api.routes_edge": "ArtifactsBucket"},
            "not_called": {"functions.batch.s3_streams": "imported for types and result key names; the api only "
                                                      "presigns URLs (functions.batch.jobs)"},
            "beyond_calls": {("s3:ListBucket", "DataBucket"): "a presigned GET of a missing result answers 404, "
                                                                "not 403"}},
    "batch": {"role": "BatchRole", "handler": "functions.batch.handler",
              "modules": {"functions.batch.s3_streams": "DataBucket", "functions.batch.ledger": "JobsTable",
                          "functions.store.s3_reader": "ArtifactsBucket", "functions.batch.worker": "BatchQueue",
                          "functions.store.sharing": ("ArtifactsBucket", {"read"}),  # writes are the api's
                          "functions.batch.handler": "BatchQueue",
                          # the quota interface only (functions.batch.metering): reserve and settle
                          "functions.auth.usage": ("TokensTable", {"reserve", "settle", "add_usage", "_read_texts",
                                                                   "_add_if_fits", "read_usage"})},
              "not_called": {"functions.auth.tokens": "imported for the TokenRecord type; jobs are billed by token id",
                             "functions.batch.jobs": "the job service runs in the api",
                             "functions.train.queue": "imported for the dead-letter naming rule "
                                                      "(from_dead_letter_queue); train steps are queued by the api",
                             "functions.batch.openai_batch": "imported for ids and line formats by the output "
                                                             "files (openai_outputs); its service runs in the api"},
              "beyond_calls": {(a, q): "Lambda's SQS event source mappings poll with the function's role"
                               for q in ("BatchQueue", "BatchDeadLetterQueue")
                               for a in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")}},
    "train": {"role": "TrainRole", "handler": "functions.train.handler",
              "modules": {"functions.train.worker": "DataBucket", "functions.train.jobs": "DataBucket",
                          "functions.store.s3_reader": "ArtifactsBucket",
                          "functions.store.sharing": ("ArtifactsBucket", {"read"}),  # writes are the api's
                          "functions.batch.ledger": ("JobsTable", {"_get", "_update"}),
                          "functions.auth.usage": ("TokensTable", {"settle", "add_usage"})},
              "not_called": {"functions.train.queue": "the api queues job steps; the worker only consumes them",
                             "functions.batch.jobs": "imported for check_job_id (the job-id rule)",
                             "functions.batch.s3_streams": "imported through functions.batch.jobs; no batch objects here",
                             "functions.auth.tokens": "imported for the TokenRecord type by functions.auth.usage"},
              "beyond_calls": {
                  **{(a, q): "Lambda's SQS event source mappings poll with the function's role"
                     for q in ("TrainQueue", "TrainDeadLetterQueue")
                     for a in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")},
                  # model_artifacts.publish (the registry's one publisher, outside functions/): files,
                  # then the manifest, versions.json and aliases.json, each conditional on what it read
                  ("s3:PutObject", "ArtifactsBucket"): "publishes the composed model (model_artifacts.publish)"}},
}
# operations whose IAM action is not "<service>:<OperationName>"
ACTIONS = {
    "s3:HeadObject": ("s3:GetObject",), "s3:ListObjectsV2": ("s3:ListBucket",),
    "s3:CreateMultipartUpload": ("s3:PutObject",), "s3:UploadPart": ("s3:PutObject",),
    "s3:CompleteMultipartUpload": ("s3:PutObject",), "s3:UploadPartCopy": ("s3:PutObject", "s3:GetObject"),
    "s3:CopyObject": ("s3:PutObject", "s3:GetObject"), "s3:DeleteObjects": ("s3:DeleteObject",),
    "s3:ListParts": ("s3:ListMultipartUploadParts",), "sqs:SendMessageBatch": ("sqs:SendMessage",),
    "sqs:DeleteMessageBatch": ("sqs:DeleteMessage",),
    "sqs:ChangeMessageVisibilityBatch": ("sqs:ChangeMessageVisibility",),
}
NAMED_OPERATION = ("generate_presigned_url", "get_paginator")
NOT_DATA = ("logs:", "xray:")


def _operations() -> dict[str, str]:
    import botocore.session
    from botocore import xform_name

    session = botocore.session.get_session()
    return {xform_name(op): f"{svc}:{op}" for svc in ("s3", "dynamodb", "sqs")
            for op in session.get_service_model(svc).operation_names}


OPERATIONS = _operations()


def module_file(name: str) -> Path | None:
    path = REPO.joinpath(*name.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def import_closure(start: str) -> set[str]:
    """Every functions.* module ``start`` imports, directly or not (lazy imports included)."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        path = module_file(name)
        if name in seen or path is None:
            continue
        seen.add(name)
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                todo += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                todo += [base] + [f"{base}.{a.name}" for a in node.names]
    return {m for m in seen if m.startswith("functions")}


def aws_actions(module: str, only: set[str] | None = None) -> set[str]:
    """IAM actions of the AWS calls one module makes (in the functions named ``only``, if given)."""
    path = module_file(module)
    assert path is not None, module
    text = path.read_text()
    tree = ast.parse(text)
    roots = [tree] if only is None else [n for n in ast.walk(tree)
                                          if isinstance(n, ast.FunctionDef) and n.name in only]
    assert only is None or {n.name for n in roots} == only, f"{module}: no function(s) {only - {n.name for n in roots}}"
    actions: set[str] = set()
    for node in (n for root in roots for n in ast.walk(root)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        name = node.func.attr
        if name in NAMED_OPERATION and node.args and isinstance(node.args[0], ast.Constant):
            name = node.args[0].value
        elif name == "generate_presigned_post":
            name = "put_object"
        if name in OPERATIONS:
            actions.update(ACTIONS.get(OPERATIONS[name], (OPERATIONS[name],)))
    if "VersionId" in text and "s3:GetObject" in actions:  # reads pinned to an object version
        actions.add("s3:GetObjectVersion")
    return actions


def code_grants(function: str) -> set[tuple[str, str]]:
    grants = set(FUNCTIONS[function]["beyond_calls"])
    for module, where in FUNCTIONS[function]["modules"].items():
        resource, only = where if isinstance(where, tuple) else (where, None)
        grants |= {(a, resource) for a in aws_actions(module, only)}
    return grants


def _resource(ref: object) -> str:
    text = str(ref)
    for name in ("TokensTable", "JobsTable", "ArtifactsBucket", "DataBucket", "BatchDeadLetterQueue", "BatchQueue",
                 "TrainDeadLetterQueue", "TrainQueue"):
        if name in text:
            return name
    raise AssertionError(f"unknown resource in {text}")


def role_statements(role: str) -> list[dict]:
    """The role's statements on data (S3, DynamoDB, SQS): logs and X-Ray left out."""
    doc = yaml.safe_load(IAM.read_text())
    [policy] = doc["Resources"][role]["Properties"]["Policies"]
    return [st for st in policy["PolicyDocument"]["Statement"]
            if not all(a.startswith(NOT_DATA) for a in _list(st["Action"]))]


def _list(value: object) -> list:
    return value if isinstance(value, list) else [value]


def role_grants(role: str) -> set[tuple[str, str]]:
    grants = set()
    for st in role_statements(role):
        assert st["Effect"] == "Allow"
        grants |= {(a, _resource(r)) for a in _list(st["Action"]) for r in _list(st["Resource"])}
    return grants


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_every_module_that_calls_aws_is_accounted_for(function):
    spec = FUNCTIONS[function]
    closure = import_closure(spec["handler"])
    calling = {m for m in closure if aws_actions(m)}
    assert set(spec["modules"]) <= closure, set(spec["modules"]) - closure
    unaccounted = calling - set(spec["modules"]) - set(spec["not_called"])
    assert not unaccounted, f"{function}: these modules call AWS; assign each a resource: {sorted(unaccounted)}"
    for module in spec["not_called"]:
        assert module not in spec["modules"]


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_role_grants_exactly_what_the_code_calls(function):
    spec = FUNCTIONS[function]
    granted, called = role_grants(spec["role"]), code_grants(function)
    assert not called - granted, f"{function}: the code calls what its role does not allow: {sorted(called - granted)}"
    assert not granted - called, f"{function}: its role allows what no code calls: {sorted(granted - called)}"


def test_api_reaches_the_tokens_table_only_by_key_prefix():
    on_tokens = [st for st in role_statements("ApiRole") if _resource(st["Resource"]) == "TokensTable"]
    prefixes = {}
    for st in on_tokens:
        keys = st["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
        for action in st["Action"]:
            prefixes.setdefault(action, set()).update(keys)
    assert prefixes == {"dynamodb:GetItem": {"TOKEN#*", "USAGE#*"}, "dynamodb:UpdateItem": {"USAGE#*"},
                        "dynamodb:Query": {"USAGE#*"}}


def test_batch_writes_only_usage_rows_of_the_tokens_table():
    on_tokens = [st for st in role_statements("BatchRole") if _resource(st["Resource"]) == "TokensTable"]
    assert on_tokens, "the batch worker meters jobs into USAGE# rows"
    for st in on_tokens:
        assert st["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] == ["USAGE#*"]

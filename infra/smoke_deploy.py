"""Deploy the packaged template to a local moto CloudFormation and check what it created.

    python -m infra.smoke_deploy --endpoint http://127.0.0.1:PORT [--stage prod] [--dir .serverless]

`osls package` writes .serverless/cloudformation-template-update-stack.json plus the zips.
The zips are uploaded to a bucket in moto under the keys the template names, the template's
deployment-bucket references point at that bucket, and the stack is created. Then the buckets,
queue + DLQ, tables, layers and functions are checked by their names from
infra/config.py:resource_names. Resource types moto's CloudFormation cannot model are listed
(moto skips them with a warning); docs/deploy.md names them.
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import boto3

from infra.config import LOCAL_ACCOUNT_ID, function_environment, load_config, resource_names

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = "cloudformation-template-update-stack.json"
DEPLOY_BUCKET = "snlp-smoke-deployments"


def unsupported_types(template: dict[str, Any]) -> list[str]:
    """Resource types in the template that moto's CloudFormation does not model."""
    from moto.cloudformation.parsing import resource_class_from_type

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        types = {res["Type"] for res in template["Resources"].values()}
        return sorted(t for t in types if resource_class_from_type(t) is None)


def point_code_at(template: dict[str, Any], bucket: str) -> dict[str, str]:
    """Replace Ref ServerlessDeploymentBucket by `bucket`; return {S3Key: zip file name}."""
    keys: dict[str, str] = {}

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if node == {"Ref": "ServerlessDeploymentBucket"}:
                return bucket
            if "S3Key" in node and isinstance(node["S3Key"], str):
                keys[node["S3Key"]] = node["S3Key"].rsplit("/", 1)[-1]
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    resources = {k: v for k, v in template["Resources"].items()
                 if k not in ("ServerlessDeploymentBucket", "ServerlessDeploymentBucketPolicy")}
    template["Resources"] = walk(resources)
    template["Outputs"] = {k: v for k, v in template.get("Outputs", {}).items()
                           if "ServerlessDeploymentBucket" not in json.dumps(v)}
    return keys


def deploy(endpoint: str, stage: str, package_dir: Path) -> list[str]:
    """Create the stack in moto; return the problems found (empty = pass)."""
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                    region_name=load_config().region)
    client = lambda name: session.client(name, endpoint_url=endpoint)  # noqa: E731
    s3, cfn = client("s3"), client("cloudformation")
    template = json.loads((package_dir / TEMPLATE).read_text())
    skipped = unsupported_types(template)
    keys = point_code_at(template, DEPLOY_BUCKET)
    s3.create_bucket(Bucket=DEPLOY_BUCKET)
    for key, name in keys.items():
        s3.upload_file(str(package_dir / name), DEPLOY_BUCKET, key)
    names = resource_names(stage, LOCAL_ACCOUNT_ID)
    body = json.dumps(template, separators=(",", ":"))
    s3.put_object(Bucket=DEPLOY_BUCKET, Key="template.json", Body=body.encode())
    cfn.create_stack(StackName=names["stack"], TemplateURL=f"https://{DEPLOY_BUCKET}.s3.amazonaws.com/template.json",
                     Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"])
    stack = cfn.describe_stacks(StackName=names["stack"])["Stacks"][0]
    problems: list[str] = []
    if stack["StackStatus"] != "CREATE_COMPLETE":
        problems.append(f"stack status {stack['StackStatus']}: {stack.get('StackStatusReason', '')}")
    created = {r["LogicalResourceId"] for r in
               cfn.list_stack_resources(StackName=names["stack"])["StackResourceSummaries"]}
    problems += check_resources(session, endpoint, names, stage)
    print(f"smoke deploy: stack {names['stack']} {stack['StackStatus']}, {len(created)} resources created; "
          f"moto cannot model (skipped): {', '.join(skipped) or 'none'}; moto ignores: {'; '.join(MOTO_IGNORES)}")
    return problems


# What moto's CloudFormation creates but does not configure from the template (seen with moto
# 5.1.14): these properties are checked on the template by tests/unit/infra instead.
MOTO_IGNORES = ("S3 versioning, public access block, lifecycle and notification configuration",
                "Lambda Layers and TracingConfig on functions", "LayerName on layer versions")


def check_resources(session: Any, endpoint: str, names: dict[str, str], stage: str) -> list[str]:
    s3 = session.client("s3", endpoint_url=endpoint)
    ddb = session.client("dynamodb", endpoint_url=endpoint)
    sqs = session.client("sqs", endpoint_url=endpoint)
    lam = session.client("lambda", endpoint_url=endpoint)
    problems = []
    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    for key in ("artifacts_bucket", "data_bucket"):
        if names[key] not in buckets:
            problems.append(f"bucket {names[key]} missing (have {sorted(buckets)})")
            continue
        rules = s3.get_bucket_encryption(Bucket=names[key])["ServerSideEncryptionConfiguration"]["Rules"]
        if not rules:
            problems.append(f"bucket {names[key]}: no default encryption")
    for key in ("tokens_table", "jobs_table"):
        try:
            table = ddb.describe_table(TableName=names[key])["Table"]
            schema = {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]}
            if schema != {"pk": "HASH", "sk": "RANGE"}:
                problems.append(f"table {names[key]}: key schema {schema}")
        except ddb.exceptions.ResourceNotFoundException:
            problems.append(f"table {names[key]} missing")
    for key in ("batch_queue", "batch_dlq", "train_queue", "train_dlq"):
        try:
            url = sqs.get_queue_url(QueueName=names[key])["QueueUrl"]
        except sqs.exceptions.QueueDoesNotExist:
            problems.append(f"queue {names[key]} missing")
            continue
        if key in ("batch_queue", "train_queue"):
            dlq = names[key.replace("queue", "dlq")]
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"]
            if dlq not in attrs.get("RedrivePolicy", ""):
                problems.append(f"queue {names[key]}: no redrive to {dlq}")
    cfg = load_config().stage(stage)
    for fn in ("api", "batch"):
        name = names[f"{fn}_function"]
        try:
            conf = lam.get_function(FunctionName=name)["Configuration"]
        except lam.exceptions.ResourceNotFoundException:
            problems.append(f"function {name} missing")
            continue
        if conf["Handler"] != f"functions/{fn}/handler.handler" or conf["Runtime"] != "python3.12":
            problems.append(f"function {name}: handler {conf['Handler']}, runtime {conf['Runtime']}")
        env = conf.get("Environment", {}).get("Variables", {})
        expected = function_environment(cfg, fn, names, queue_url="")
        # queue URLs are CloudFormation Refs: checked by the queue name they end with
        for queue_var, queue in (("SNLP_BATCH_QUEUE_URL", "batch_queue"), ("SNLP_TRAIN_QUEUE_URL", "train_queue")):
            if not env.get(queue_var, "").endswith("/" + names[queue]):
                problems.append(f"function {name}: {queue_var}={env.get(queue_var)!r}")
            expected.pop(queue_var)
            env.pop(queue_var, None)
        if fn == "batch":
            expected.pop("SNLP_PRELOAD_MODELS")
        if env != expected:
            problems.append(f"function {name}: environment {env} != infra.config {expected}")
    train = names["train_function"]
    try:
        conf = lam.get_function(FunctionName=train)["Configuration"]
        if conf["Handler"] != "functions/train/handler.handler" or conf["Runtime"] != "python3.12":
            problems.append(f"function {train}: handler {conf['Handler']}, runtime {conf['Runtime']}")
    except lam.exceptions.ResourceNotFoundException:
        problems.append(f"function {train} missing")
    layers = [layer["LatestMatchingVersion"]["Description"] for layer in lam.list_layers()["Layers"]]
    if len(layers) != 3:  # runtime and aws for every function, onnx for the train function only
        problems.append(f"expected 3 layers, found {layers}")
    mappings = lam.list_event_source_mappings()["EventSourceMappings"]
    if not any(m["EventSourceArn"].endswith(":" + names["batch_queue"])
               and m["FunctionArn"].endswith(":" + names["batch_function"])
               and m.get("FunctionResponseTypes") == ["ReportBatchItemFailures"] for m in mappings):
        problems.append("batch function has no ReportBatchItemFailures mapping on the batch queue")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="moto server URL, e.g. http://127.0.0.1:5000")
    parser.add_argument("--stage", default="prod")
    parser.add_argument("--dir", type=Path, default=REPO / ".serverless")
    args = parser.parse_args(argv)
    problems = deploy(args.endpoint, args.stage, args.dir)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

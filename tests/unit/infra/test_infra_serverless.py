"""serverless.yml as written: security properties, IAM scope, names, env vars, metric names.

The packaged template itself is linted, scanned and smoke-deployed by infra/ci_checks.sh; these
checks read the source files (no osls, no node) so a mistake fails fast with a precise message.
"""
from __future__ import annotations

import json
import re

import pytest
import yaml

from functions.api import telemetry as api_telemetry
from functions.batch import telemetry as batch_telemetry
from functions.settings import ENV
from infra.config import StageConfig, load_config, resource_names
from infra.serverless_yml import REPO, SERVERLESS_YML, STAGE_VAR_RE, load, substitute

API_TYPES = ("http", "rest", "url")
DATA_SERVICES = ("s3:", "dynamodb:", "sqs:", "sns:", "kms:", "lambda:")


@pytest.fixture(scope="module", params=API_TYPES)
def sls(request):
    return load(request.param)


@pytest.fixture(scope="module")
def res():
    return load("http")["resources"]["Resources"]


def test_handlers_are_the_projects_own_never_stock_wsgi_handler(sls):
    handlers = {name: fn["handler"] for name, fn in sls["functions"].items()}
    assert handlers == {"api": "functions/api/handler.handler", "batch": "functions/batch/handler.handler",
                        "train": "functions/train/handler.handler"}
    assert "wsgi_handler" not in SERVERLESS_YML.read_text().replace("wsgi_handler.handler)", "")
    assert sls["provider"]["runtime"] == "python3.12"
    assert "plugins" not in sls


def test_package_ships_only_functions_and_layers_keep_their_files(sls):
    patterns = sls["package"]["patterns"]
    assert patterns[:2] == ["!**", "functions/**"]
    # no local (3.11) pycs, only the python3.12 ones `make package` compiles (infra/function_code.py;
    # test_function_code.py evaluates these patterns file by file)
    assert patterns[2:5] == ["!functions/**/__pycache__/**", "!functions/**/*.pyc",
                             "functions/**/__pycache__/*.cpython-312.pyc"]
    for layer in sls["layers"].values():
        assert "**" in layer["package"]["patterns"]
        assert layer["path"].startswith("layers/build/")
    for name, fn in sls["functions"].items():
        own = [{"Ref": "TrainLambdaLayer"}] if name == "train" else []  # onnx: the train function's alone
        assert fn["layers"] == [{"Ref": "RuntimeLambdaLayer"}, {"Ref": "AwsLambdaLayer"}, *own]


def test_api_events_follow_the_api_type():
    assert load("http")["functions"]["api"]["events"] == [{"httpApi": "*"}]
    rest = load("rest")
    events = rest["functions"]["api"]["events"]
    assert all("http" in e for e in events)
    assert any(e["http"].get("private") for e in events)
    assert "quota" not in rest["provider"]["apiGateway"]["usagePlan"]  # the per-token quota is the quota
    assert rest["provider"]["apiGateway"]["apiKeys"]
    assert load("http")["functions"]["api"]["url"] is False and rest["functions"]["api"]["url"] is False


def test_function_url_front_door_has_no_gateway_and_keeps_its_alarms():
    url = load("url")
    api = url["functions"]["api"]
    assert api["url"] is True and api["events"] == []  # AuthType NONE: the app's tokens do the work
    assert url["provider"]["httpApi"] == {} and url["provider"]["apiGateway"] == {}
    res = url["resources"]["Resources"]
    rate = res["Api5xxRateAlarm"]["Properties"]["Metrics"]
    assert {m["MetricStat"]["Metric"]["MetricName"] for m in rate if "MetricStat" in m} == {"Url5xxCount", "UrlRequestCount"}
    assert res["ApiP99LatencyAlarm"]["Properties"]["MetricName"] == "UrlRequestLatency"
    skips = url["resources"]["extensions"]["ApiLambdaFunctionUrl"]["Metadata"]["checkov"]["skip"]
    assert [s["id"] for s in skips] == ["CKV_AWS_258"]
    assert url["resources"]["Outputs"]["ApiUrl"]["Value"] == {"Fn::GetAtt": ["ApiLambdaFunctionUrl", "FunctionUrl"]}


def test_startup_and_overhead_levers_are_rendered_from_the_stage():
    api = load("http")["functions"]["api"]
    assert api["snapStart"] == "${self:custom.stage.api_snapstart}"
    assert api["ephemeralStorageSize"] == "${self:custom.stage.api_ephemeral_mb}"
    assert api["provisionedConcurrency"] == "${self:custom.stage.api_provisioned_concurrency}"
    assert api["environment"]["SNLP_ACCESS_LOG_SAMPLE_RATE"] == "${self:custom.stage.access_log_sample_rate}"
    assert api["environment"]["SNLP_METRICS_PER_MODEL"] == "${self:custom.stage.metrics_per_model}"
    assert api["environment"]["SNLP_METRICS_FLUSH_REQUESTS"] == "${self:custom.stage.metrics_flush_requests}"
    assert api["logs"] == "${file(infra/serverless/lambda-logs.yml):${self:custom.stage.lambda_log_format}}"
    formats = yaml.safe_load((REPO / "infra" / "serverless" / "lambda-logs.yml").read_text())
    from infra.config import LAMBDA_LOG_FORMATS
    assert set(formats) == set(LAMBDA_LOG_FORMATS)
    assert formats["json_quiet"] == {"logFormat": "JSON", "systemLogLevel": "WARN", "applicationLogLevel": "INFO"}


def test_batch_consumes_the_queue_with_partial_failures(sls):
    event, dead = sls["functions"]["batch"]["events"]
    sqs = event["sqs"]
    assert sqs["arn"] == {"Fn::GetAtt": ["BatchQueue", "Arn"]}
    assert sqs["functionResponseType"] == "ReportBatchItemFailures"
    assert {"batchSize", "maximumBatchingWindow"} <= set(sqs)
    # and its DLQ, to end the jobs of dead messages (functions.batch.handler: by event source)
    assert dead["sqs"]["arn"] == {"Fn::GetAtt": ["BatchDeadLetterQueue", "Arn"]}
    assert "reservedConcurrency" in sls["functions"]["batch"]


@pytest.mark.parametrize("bucket", ["ArtifactsBucket", "DataBucket"])
def test_buckets_are_private_encrypted_versioned_and_tls_only(res, bucket):
    props = res[bucket]["Properties"]
    assert all(props["PublicAccessBlockConfiguration"][k] is True for k in
               ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"))
    sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert sse["SSEAlgorithm"] in ("aws:kms", "AES256")
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    policy = next(r for r in res.values() if r["Type"] == "AWS::S3::BucketPolicy"
                  and r["Properties"]["Bucket"] == {"Ref": bucket})
    (deny,) = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert deny["Principal"] == "*" and deny["Action"] == "s3:*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert len(deny["Resource"]) == 2  # the bucket and its objects


def test_data_bucket_lifecycle_and_notifications(res):
    props = res["DataBucket"]["Properties"]
    expiring = {r["Prefix"] for r in props["LifecycleConfiguration"]["Rules"] if "ExpirationInDays" in r}
    assert expiring == {"results/", "incoming/", "files/"}  # files/: OpenAI Batch API request files
    configs = props["NotificationConfiguration"]["QueueConfigurations"]
    filters = sorted(tuple(sorted((r["Name"], r["Value"]) for r in c["Filter"]["S3Key"]["Rules"])) for c in configs)
    assert filters == [(("prefix", "incoming/"), ("suffix", ".csv")), (("prefix", "incoming/"), ("suffix", ".jsonl"))]
    assert all(c["Queue"] == {"Fn::GetAtt": ["BatchQueue", "Arn"]} for c in configs)
    assert all(c["Event"] == "s3:ObjectCreated:*" for c in configs)
    assert res["DataBucket"]["DependsOn"] == "BatchQueuePolicy"


def test_queue_has_a_dlq_and_only_the_data_bucket_may_send(res):
    redrive = res["BatchQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["BatchDeadLetterQueue", "Arn"]}
    (stmt,) = res["BatchQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert stmt["Principal"] == {"Service": "s3.amazonaws.com"} and stmt["Action"] == "sqs:SendMessage"
    assert "aws:SourceArn" in stmt["Condition"]["ArnLike"]
    assert stmt["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert all(res[q]["Properties"]["SqsManagedSseEnabled"] for q in ("BatchQueue", "BatchDeadLetterQueue"))


@pytest.mark.parametrize("table", ["TokensTable", "JobsTable"])
def test_tables(res, table):
    props = res[table]["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
    assert {(a["AttributeName"], a["AttributeType"]) for a in props["AttributeDefinitions"]} == {("pk", "S"), ("sk", "S")}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}


def _statements(res, role):
    return [s for p in res[role]["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]


@pytest.mark.parametrize("role, function", [("ApiRole", "api"), ("BatchRole", "batch"), ("TrainRole", "train")])
def test_each_function_has_its_own_scoped_role(sls, res, role, function):
    assert sls["functions"][function]["role"] == role
    for stmt in _statements(res, role):
        actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
        assert stmt["Effect"] == "Allow"
        assert not any(a == "*" or a.endswith(":*") for a in actions), stmt
        if any(a.startswith(DATA_SERVICES) for a in actions):
            resources = stmt["Resource"] if isinstance(stmt["Resource"], list) else [stmt["Resource"]]
            assert "*" not in resources, f"{role} {stmt['Sid']}: data actions on Resource '*'"
            for r in resources:
                sub = r.get("Fn::Sub", "") if isinstance(r, dict) else r
                if "Bucket.Arn}/" in sub:  # object ARNs are scoped to a prefix (or one registry file name)
                    assert re.search(r"\}/((models|incoming|results|results/_parts|files|train|web)/\*"
                                     r"|models/\*/sharing\.json)$", sub), sub
        else:
            assert actions == ["xray:PutTraceSegments", "xray:PutTelemetryRecords"] or stmt["Sid"] == "Logs"


def test_roles_grant_what_the_brief_says_and_nothing_more(res):
    api = {s["Sid"]: s for s in _statements(res, "ApiRole")}
    batch = {s["Sid"]: s for s in _statements(res, "BatchRole")}
    api_actions = {a for s in api.values() for a in s["Action"]}
    # the api sends to the train queue only (one message per training step), never to the batch queue
    assert {a for a in api_actions if a.startswith("sqs:")} == {"sqs:SendMessage"}
    assert api["QueueTraining"]["Resource"] == {"Fn::GetAtt": ["TrainQueue", "Arn"]}
    train = {s["Sid"]: s for s in _statements(res, "TrainRole")}
    assert train["TrainingData"]["Resource"] == {"Fn::Sub": "${DataBucket.Arn}/train/*"}
    assert train["MeterTraining"]["Action"] == ["dynamodb:UpdateItem"]  # settle: USAGE# rows only
    assert train["Queue"]["Resource"] == [{"Fn::GetAtt": ["TrainQueue", "Arn"]},  # and its DLQ: dead messages
                                          {"Fn::GetAtt": ["TrainDeadLetterQueue", "Arn"]}]  # end their jobs
    assert api["PresignedBatchUpload"]["Resource"] == {"Fn::Sub": "${DataBucket.Arn}/incoming/*"}
    assert api["ReadBatchResults"]["Resource"] == {"Fn::Sub": "${DataBucket.Arn}/results/*"}
    # share later / unshare: the api writes a model's sharing record, never a version or an alias
    assert api["ShareModels"] == {"Sid": "ShareModels", "Effect": "Allow", "Action": ["s3:PutObject"],
                                  "Resource": {"Fn::Sub": "${ArtifactsBucket.Arn}/models/*/sharing.json"}}
    assert api["ReadTokensAndUsage"]["Resource"] == {"Fn::GetAtt": ["TokensTable", "Arn"]}  # by key prefix:
    assert api["MeterUsage"]["Condition"]  # tests/unit/infra/test_iam_matches_code.py checks them
    assert batch["Jobs"]["Resource"] == {"Fn::GetAtt": ["JobsTable", "Arn"]}
    assert batch["MeterJobs"]["Resource"] == {"Fn::GetAtt": ["TokensTable", "Arn"]}  # USAGE# rows only
    assert batch["ReadInputs"]["Resource"] == {"Fn::Sub": "${DataBucket.Arn}/incoming/*"}
    assert "s3:PutObject" not in batch["ReadInputs"]["Action"]  # outputs never under incoming/
    assert batch["Queue"]["Resource"] == {"Fn::GetAtt": ["BatchQueue", "Arn"]}


def test_names_match_infra_config_resource_names(res):
    cfg = load_config().stage("prod")
    names = resource_names("prod", "123456789012")
    expanded = json.loads(substitute(json.dumps(res), cfg, "123456789012"))

    def prop(logical, key):
        value = expanded[logical]["Properties"][key]
        return value["Fn::Sub"] if isinstance(value, dict) else value
    assert prop("ArtifactsBucket", "BucketName") == names["artifacts_bucket"]
    assert prop("DataBucket", "BucketName") == names["data_bucket"]
    assert prop("TokensTable", "TableName") == names["tokens_table"]
    assert prop("JobsTable", "TableName") == names["jobs_table"]
    assert prop("BatchQueue", "QueueName") == names["batch_queue"]
    assert prop("BatchDeadLetterQueue", "QueueName") == names["batch_dlq"]
    assert prop("TrainQueue", "QueueName") == names["train_queue"]
    assert prop("TrainDeadLetterQueue", "QueueName") == names["train_dlq"]
    assert prop("AlarmTopic", "TopicName") == names["alarm_topic"]
    assert prop("Dashboard", "DashboardName") == names["dashboard"]
    # osls names functions <service>-<stage>-<function>
    assert load()["service"] == "serverless-nlp"


def test_environment_names_are_the_settings_names(sls):
    common = sls["provider"]["environment"]
    for name, fn in sls["functions"].items():
        env = {**common, **fn["environment"]}
        unknown = {k for k in env if not k.startswith("POWERTOOLS_")} - set(ENV.values())
        assert not unknown, f"{name}: env vars not in functions/settings.py ENV: {unknown}"
        assert env["POWERTOOLS_SERVICE_NAME"] == name
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "ServerlessNLP"
    from infra.config import function_environment
    cfg = load_config().stage("prod")
    for name, fn in sls["functions"].items():
        expected = function_environment(cfg, name, resource_names("prod"), "q")
        if name in ("batch", "train"):
            expected.pop(ENV["preload_models"])
        assert set(expected) == set(common) | set(fn["environment"])


def test_every_stage_key_serverless_reads_exists():
    text = "".join(p.read_text() for p in [SERVERLESS_YML, *(REPO / "infra" / "serverless").glob("*.yml")])
    used = set(STAGE_VAR_RE.findall(text))  # ${self:custom.stage.<key>}
    assert used, "serverless.yml reads no stage parameters?"
    assert used <= set(StageConfig.__dataclass_fields__), used - set(StageConfig.__dataclass_fields__)


def test_checkov_skips_each_carry_a_reason():
    text = "".join(p.read_text() for p in [SERVERLESS_YML, *(REPO / "infra" / "serverless").glob("*.yml")])
    docs = [yaml.safe_load(SERVERLESS_YML.read_text()),
            *(yaml.safe_load(p.read_text()) for p in (REPO / "infra" / "serverless").glob("*.yml"))]
    skips = []

    def walk(node):
        if isinstance(node, dict):
            if "checkov" in node:
                skips.extend(node["checkov"]["skip"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    for doc in docs:
        walk(doc)
    assert skips and "CKV_AWS_" in text
    for skip in skips:
        assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]) and len(skip["comment"]) > 30, skip


# ---- monitoring: metric names must be the ones the handlers emit ---------------------------
_UNITS_AND_META = {"NAMESPACE", "SERVICE", "MS", "COUNT"}


def emitted(module) -> set[str]:
    return {v for k, v in vars(module).items() if k.isupper() and isinstance(v, str) and k not in _UNITS_AND_META}


def referenced_metrics(resources) -> set[tuple[str, str | None]]:
    """(metric name, service dimension or None) for every ServerlessNLP metric in alarms + dashboard."""
    found: set[tuple[str, str | None]] = set()

    def walk(node):
        if isinstance(node, dict):
            if node.get("Namespace") == "ServerlessNLP":
                dims = {d["Name"]: d["Value"] for d in node.get("Dimensions", [])}
                found.add((node["MetricName"], dims.get("service")))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(resources)
    body = re.sub(r"\$\{[^}]+\}", "X", resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"])
    for widget in json.loads(body)["widgets"]:
        for metric in widget["properties"]["metrics"]:
            if metric[0] == "ServerlessNLP":
                dims = dict(zip(metric[2::2], metric[3::2])) if not isinstance(metric[-1], dict) \
                    else dict(zip(metric[2:-1:2], metric[3:-1:2]))
                found.add((metric[1], dims.get("service")))
            elif isinstance(metric[0], dict) and "ServerlessNLP" in metric[0]["expression"]:
                found.add((re.search(r'MetricName="(\w+)"', metric[0]["expression"])[1], None))
    return found


def test_metric_names_match_what_the_handlers_emit(res):
    by_service = {"api": emitted(api_telemetry), "batch": emitted(batch_telemetry)}
    refs = referenced_metrics(res)
    assert {"ColdStart", "Texts", "Tokens", "ArtifactIntegrityFailures", "BatchLinesOk"} <= {n for n, _ in refs}
    for name, service in refs:
        allowed = by_service[service] if service else by_service["api"] | by_service["batch"]
        assert name in allowed, f"{name} (service={service}) is not emitted by functions/{service or '*'}/telemetry.py"


def test_alarms_cover_the_issue_list(sls):
    for api_type in API_TYPES:
        alarms = {k: v for k, v in load(api_type)["resources"]["Resources"].items() if v["Type"] == "AWS::CloudWatch::Alarm"}
        assert {"Api5xxRateAlarm", "ApiP99LatencyAlarm", "ApiThrottlesAlarm", "BatchThrottlesAlarm",
                "BatchDeadLetterAlarm", "ArtifactIntegrityAlarm"} <= set(alarms)
        for alarm in alarms.values():
            assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
        assert alarms["ApiP99LatencyAlarm"]["Properties"]["ExtendedStatistic"] == "p99"
        rate = alarms["Api5xxRateAlarm"]["Properties"]["Metrics"]
        assert any("errors / requests" in m.get("Expression", "") for m in rate)
    dlq = load()["resources"]["Resources"]["BatchDeadLetterAlarm"]["Properties"]
    assert dlq["MetricName"] == "ApproximateNumberOfMessagesVisible" and dlq["Threshold"] == 0


def test_batch_may_delete_part_files_only(res):
    deletes = [s for role in ("ApiRole", "BatchRole") for s in _statements(res, role) if "s3:DeleteObject" in s["Action"]]
    assert [d["Resource"] for d in deletes] == [{"Fn::Sub": "${DataBucket.Arn}/results/_parts/*"}]


def test_the_rest_stage_samples_xray_by_the_stage_levers():
    rest = load("rest")
    rule = rest["resources"]["Resources"]["ApiXRaySamplingRule"]["Properties"]["SamplingRule"]
    assert rule["FixedRate"] == "${self:custom.stage.xray_sampling_rate}"
    assert rule["ReservoirSize"] == "${self:custom.stage.xray_reservoir_per_s}"
    assert rest["provider"]["tracing"] == {"lambda": "${self:custom.stage.tracing}",
                                           "apiGateway": "${self:custom.stage.tracing}"}

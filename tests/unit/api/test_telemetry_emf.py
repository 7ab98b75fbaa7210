"""telemetry.publish writes EMF documents with the samples Powertools' Metrics would write for the same points,
in fewer bytes (EMF_FORMAT 2), every invocation or once per N (metrics_flush_requests)."""
from __future__ import annotations

import json

from aws_lambda_powertools.metrics import EphemeralMetrics

from functions.api.telemetry import (NAMESPACE, SERVICE, Telemetry, cold_start_point, emf_documents,
                                     group_by_dims, publish)


def powertools_document(dims, points) -> dict:
    blob = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
    for key, value in dims:
        blob.add_dimension(name=key, value=value)
    for p in points:
        blob.add_metric(name=p.name, unit=p.unit, value=p.value)
    return blob.serialize_metric_set()


def samples(documents) -> list[tuple]:
    """What CloudWatch makes of EMF documents: one sample per (namespace, dimensions, metric, unit, value)."""
    out = []
    for doc in documents:
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            for dim_set in directive["Dimensions"]:
                dims = tuple((k, doc[k]) for k in dim_set)
                for metric in directive["Metrics"]:
                    values = doc[metric["Name"]]
                    for value in values if isinstance(values, list) else [values]:
                        out.append((directive["Namespace"], dims, metric["Name"], metric["Unit"], round(value, 2)))
    return sorted(out, key=repr)


def valid_emf(doc) -> None:
    """The EMF specification's shape: every metric and dimension named in the directive is a property."""
    meta = doc["_aws"]
    assert isinstance(meta["Timestamp"], int)
    for directive in meta["CloudWatchMetrics"]:
        assert directive["Namespace"] == NAMESPACE and directive["Dimensions"] and directive["Metrics"]
        for dim_set in directive["Dimensions"]:
            assert 1 <= len(dim_set) <= 30 and all(isinstance(doc[k], str) for k in dim_set)
        for metric in directive["Metrics"]:
            values = doc[metric["Name"]]
            assert isinstance(values, (int, float)) or (isinstance(values, list) and 1 <= len(values) <= 100)


def mixed_points():
    telemetry = Telemetry(per_model=True)
    telemetry.inference("sentiment", 3.5, 2, 17)
    telemetry.inference("sentiment", 4.0, 1, 9)
    telemetry.error("rate-limited")
    telemetry.store_event("model_loaded", {"model": "minilm-embed", "download_ms": 1, "verify_ms": 2, "load_ms": 3})
    return [cold_start_point("api-fn"), *telemetry.drain()]


def test_documents_carry_the_samples_powertools_would_write():
    points = mixed_points()
    ours = emf_documents(points, 1_700_000_000_000)
    theirs = [powertools_document(dims, group) for dims, group in group_by_dims(points).items()]
    for doc in ours:
        valid_emf(doc)
    assert samples(ours) == samples(theirs)
    # dimension sets that agree share a document: the per-model and per-error copies are no line of their own;
    # the second model's load time has another value for dimension model: a document of its own
    assert len(theirs) == 5 and len(ours) == 2


def test_one_request_is_one_compact_line_with_unchanged_values():
    telemetry = Telemetry(per_model=True)
    telemetry.inference("sentiment@int8", 23.123456789, 1, 20)
    (doc,) = emf_documents(telemetry.drain(), 1_796_133_592_870)
    assert doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"], ["model", "service"]]
    assert (doc["InferenceMs"], doc["Texts"], doc["Tokens"], doc["model"], doc["service"]) == (23.12, 1, 20,
                                                                                              "sentiment@int8", "api")
    lean = Telemetry(per_model=False)
    lean.inference("sentiment@int8", 23.123456789, 1, 20)
    line = json.dumps(emf_documents(lean.drain(), 1_796_133_592_870)[0], separators=(",", ":"))
    assert len(line) + 1 == 296  # was 313 B (EMF_FORMAT 1: [23.123456789], [1.0], [20.0])


def test_more_than_100_values_are_split_over_documents():
    telemetry = Telemetry(per_model=False)
    for i in range(150):
        telemetry.inference("m", float(i), 1, 2)
    docs = emf_documents(telemetry.drain(), 1)
    assert [len(d["InferenceMs"]) for d in docs] == [100, 50]
    assert sorted(v for d in docs for v in d["InferenceMs"]) == list(range(150))


def test_publish_writes_one_line_and_drains():
    telemetry, lines = Telemetry(per_model=False), []
    telemetry.inference("sentiment", 3.5, 2, 17)
    publish(telemetry, extra=[cold_start_point("fn")], write=lines.append, clock=lambda: 12.5)
    docs = [json.loads(line) for line in lines]
    assert all(line.endswith("\n") for line in lines) and len(docs) == 1  # the cold start joins the request's line
    assert docs[0]["ColdStart"] == 1 and docs[0]["function_name"] == "fn"
    assert docs[0]["Texts"] == 2 and docs[0]["_aws"]["Timestamp"] == 12500
    assert telemetry.peek() == []


def test_buffered_metrics_are_written_every_n_invocations_or_after_the_interval():
    now = [0.0]
    telemetry, lines = Telemetry(per_model=False, flush_every=3, flush_interval_s=5.0, clock=lambda: now[0]), []
    for i in range(3):
        telemetry.inference("sentiment", 10.0 + i, 1, 20)
        publish(telemetry, extra=[cold_start_point("fn")] if i == 0 else (), write=lines.append, clock=lambda: 1.0)
        assert len(lines) == (0 if i < 2 else 1)
    (doc,) = [json.loads(line) for line in lines]
    assert doc["ColdStart"] == 1 and doc["InferenceMs"] == [10, 11, 12] and doc["Texts"] == [1, 1, 1]
    telemetry.inference("sentiment", 20.0, 1, 20)
    publish(telemetry, write=lines.append)
    assert len(lines) == 1  # one invocation buffered
    now[0] = 5.0
    telemetry.inference("sentiment", 21.0, 1, 20)
    publish(telemetry, write=lines.append)
    assert json.loads(lines[-1])["InferenceMs"] == [20, 21]  # the interval passed: written at the next invocation


def test_publish_drops_the_points_when_metrics_are_off():
    telemetry, lines = Telemetry(), []
    telemetry.error("internal")
    publish(telemetry, enabled=False, write=lines.append)
    assert lines == [] and telemetry.peek() == []  # nothing piles up between invocations

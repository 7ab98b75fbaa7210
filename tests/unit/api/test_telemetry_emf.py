"""telemetry.publish writes the EMF documents Powertools' Metrics would write for the same points."""
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


def test_documents_match_powertools_for_every_dimension_set():
    telemetry = Telemetry(per_model=True)
    telemetry.inference("sentiment", 3.5, 2, 17)
    telemetry.inference("sentiment", 4.0, 1, 9)
    telemetry.error("rate-limited")
    telemetry.store_event("model_loaded", {"model": "minilm-embed", "download_ms": 1, "verify_ms": 2, "load_ms": 3})
    points = [cold_start_point("api-fn"), *telemetry.drain()]
    ours = emf_documents(points, 1_700_000_000_000)
    theirs = [powertools_document(dims, group) for dims, group in group_by_dims(points).items()]
    assert len(ours) == len(theirs) == 5
    for mine, powertools in zip(ours, theirs):
        powertools["_aws"]["Timestamp"] = mine["_aws"]["Timestamp"]
        assert mine == powertools


def test_publish_writes_one_line_per_dimension_set_and_drains():
    telemetry, lines = Telemetry(per_model=False), []
    telemetry.inference("sentiment", 3.5, 2, 17)
    publish(telemetry, extra=[cold_start_point("fn")], write=lines.append, clock=lambda: 12.5)
    docs = [json.loads(line) for line in lines]
    assert all(line.endswith("\n") for line in lines) and len(docs) == 2
    assert docs[0]["ColdStart"] == [1.0] and docs[0]["function_name"] == "fn"
    assert docs[1]["Texts"] == [2.0] and docs[1]["_aws"]["Timestamp"] == 12500
    assert telemetry.peek() == []


def test_publish_drops_the_points_when_metrics_are_off():
    telemetry, lines = Telemetry(), []
    telemetry.error("internal")
    publish(telemetry, enabled=False, write=lines.append)
    assert lines == [] and telemetry.peek() == []  # nothing piles up between invocations

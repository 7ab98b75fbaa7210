"""Message bodies -> work: real S3/SQS samples, URL-decoded keys, ignored events."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from functions.batch.events import (ChunkTask, Ignored, MalformedMessageError, ObjectCreated, chunk_message,
                                    job_of_key, parse_body)

EVENTS = Path(__file__).resolve().parents[2] / "events"


def _sample(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def _with_keys(*keys: str) -> str:
    doc = _sample("s3_object_created.json")
    record = doc["Records"][0]
    doc["Records"] = []
    for key in keys:
        r = json.loads(json.dumps(record))
        r["s3"]["object"]["key"] = key
        doc["Records"].append(r)
    return json.dumps(doc)


def test_sqs_sample_body_is_an_s3_notification():
    body = _sample("sqs_s3_event.json")["Records"][0]["body"]
    (work,) = parse_body(body)
    assert isinstance(work, Ignored)  # test.pdf is not under incoming/


def test_every_record_key_is_url_decoded():
    works = parse_body(_with_keys("incoming/a+b.jsonl", "incoming/caf%C3%A9+%F0%9F%98%80.csv",
                                  "incoming%2Fplus%2B.jsonl"))
    assert [(w.source.key, w.job_id, w.fmt) for w in works] == [
        ("incoming/a b.jsonl", "a b", "jsonl"), ("incoming/café 😀.csv", "café 😀", "csv"),
        ("incoming/plus+.jsonl", "plus+", "jsonl")]
    first = works[0]
    assert isinstance(first, ObjectCreated)
    assert first.source.version_id == "yd3d4HaWOT2zguDLvIQLU6ptDTwKBnQV"
    assert first.source.etag == "2e3ad1e983318bbd8e73b080e2997980" and first.sequencer == "00643717F9F8B85354"


def test_run_id_is_per_object_version():
    a, b = parse_body(_with_keys("incoming/x.jsonl", "incoming/x.jsonl"))
    assert a.run_id == b.run_id  # a duplicate delivery
    doc = json.loads(_with_keys("incoming/x.jsonl"))
    doc["Records"][0]["s3"]["object"]["versionId"] = "other"
    (c,) = parse_body(json.dumps(doc))
    assert c.run_id != a.run_id
    del doc["Records"][0]["s3"]["object"]["versionId"]
    (d,) = parse_body(json.dumps(doc))
    doc["Records"][0]["s3"]["object"]["sequencer"] = "00643717F9F8B85399"  # same bytes uploaded again
    (e,) = parse_body(json.dumps(doc))
    assert len({a.run_id, c.run_id, d.run_id, e.run_id}) == 4


def test_test_event_other_events_and_keys_are_ignored():
    assert parse_body(json.dumps(_sample("s3_test_event.json"))) == [Ignored("s3:TestEvent")]
    doc = json.loads(_with_keys("incoming/x.jsonl"))
    doc["Records"][0]["eventName"] = "ObjectRemoved:Delete"
    assert isinstance(parse_body(json.dumps(doc))[0], Ignored)
    for key in ("results/x.jsonl", "incoming/", "incoming/a/../b.jsonl", "other/incoming/x.jsonl"):
        assert isinstance(parse_body(_with_keys(key))[0], Ignored), key


def test_unsupported_extensions_are_jobs_without_a_format():
    assert job_of_key("incoming/notes.txt") == ("notes", None)
    assert job_of_key("incoming/noext") == ("noext", None)
    assert job_of_key("incoming/DATA.JSONL") == ("DATA", "jsonl")


def test_sns_wrapped_notification_and_chunk_messages():
    inner = _with_keys("incoming/x.jsonl")
    (work,) = parse_body(json.dumps({"Type": "Notification", "Message": inner}))
    assert isinstance(work, ObjectCreated)
    assert parse_body(chunk_message("r1", 3)) == [ChunkTask("r1", 3)]


@pytest.mark.parametrize("body", ["not json", "[]", "{}", '{"kind": "snlp.batch.chunk"}',
                                  '{"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}]}'])
def test_malformed_bodies_raise_so_they_reach_the_dlq(body):
    with pytest.raises(MalformedMessageError):
        parse_body(body)

"""S3 upload -> moto notification -> SQS -> the real batch handler -> results in S3."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest
from moto import mock_aws

from functions.batch import handler as batch_handler
from infra.local_worker import FakeContext, to_lambda_event
from tests.functional.batch_stack import DATA, load_event, make_stack, s3_notification, sqs_event
from infra.local.tiny_artifact import LABELS, reference_outputs


@pytest.fixture
def stack(tiny_registry, tmp_path):
    with mock_aws():
        yield make_stack(tiny_registry, tmp_path / "cache", clock=time.time)


def _lines(*rows) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


def test_good_and_malformed_lines_keep_order_counts_and_line_numbers(stack):
    body = _lines({"id": "a", "text": "good movie"}, "{not json", {"txt": "no text field"},
                  {"text": 5}, {"text": "   "}, {"text": "x" * 3000}, {"id": 7, "text": "bad day"},
                  ["a", "list"], {"text": "great food"})
    stack.upload("incoming/mixed.jsonl", body)
    stack.drain()

    summary = stack.summary("mixed")
    assert summary["status"] == "done" and summary["reason"] is None
    assert summary["counts"] == {"lines_read": 9, "ok": 4, "failed": 5}
    assert summary["model"]["name"] == "tiny-sentiment" and summary["model"]["version"] == "1-fp32"
    assert summary["source"]["key"] == "incoming/mixed.jsonl" and summary["source"]["etag"]

    results = stack.jsonl("results/mixed.jsonl")
    assert [r["line"] for r in results] == list(range(1, 10))
    errors = stack.jsonl("results/mixed.errors.jsonl")
    assert [(e["line"], e["code"]) for e in errors] == [
        (2, "invalid-json"), (3, "missing-text"), (4, "invalid-input"), (5, "empty-input"), (8, "invalid-input")]
    assert all(e["reason"] for e in errors)
    good = [r for r in results if "error" not in r]
    assert [(r["line"], r.get("id")) for r in good] == [(1, "a"), (6, None), (7, 7), (9, None)]
    expected = reference_outputs("classify", ["good movie", "x" * 2000, "bad day", "great food"])
    for row, ref in zip(good, expected):
        assert row["label"] == LABELS[int(np.argmax(ref))]
        assert list(row["scores"]) == list(LABELS)
        np.testing.assert_allclose([row["scores"][label] for label in LABELS], ref, atol=1e-5)


def test_embed_model_from_object_metadata(stack):
    stack.upload("incoming/emb.jsonl", _lines({"text": "happy day"}, {"text": "sad weather"}),
                 model="tiny-embed:candidate")
    stack.drain()
    summary = stack.summary("emb")
    assert summary["model"] == {"ref": "tiny-embed:candidate", "name": "tiny-embed", "version": "2-fp32",
                                "task": "embed"}
    rows = stack.jsonl("results/emb.jsonl")
    ref = reference_outputs("embed", ["happy day", "sad weather"], seed=1)
    np.testing.assert_allclose([r["embedding"] for r in rows], ref, atol=1e-5)


def test_duplicate_delivery_twice_and_twenty_times_gives_one_result(stack):
    put = stack.upload("incoming/dup.jsonl", _lines({"text": "good"}, {"text": "bad"}))
    stack.drain()
    first = stack.read("results/dup.jsonl")
    body = s3_notification(DATA, "incoming/dup.jsonl", put["ETag"], sequencer="")
    # moto's notification has no sequencer: the same event again, once and then 20 times in one batch
    stack.invoke(sqs_event(body))
    response = stack.invoke(sqs_event(*([body] * 20)))
    assert response == {"batchItemFailures": []}
    assert stack.read("results/dup.jsonl") == first
    assert len(stack.jsonl("results/dup.jsonl")) == 2
    assert [k for k in stack.keys("results/") if not k.startswith("results/_parts/")] == [
        "results/dup.errors.jsonl", "results/dup.jsonl", "results/dup.summary.json"]


def test_new_upload_to_the_same_key_is_processed_again(stack):
    stack.upload("incoming/again.jsonl", _lines({"text": "good"}))
    stack.drain()
    stack.upload("incoming/again.jsonl", _lines({"text": "bad"}, {"text": "sad"}, {"text": "fine"}))
    stack.drain()
    assert stack.summary("again")["counts"]["lines_read"] == 3
    assert len(stack.jsonl("results/again.jsonl")) == 3


def test_url_encoded_keys_with_spaces_and_unicode(stack):
    key = "incoming/my data + café ñ 😀.jsonl"
    put = stack.upload(key, _lines({"text": "naïve café"}))
    stack.drain()
    job = "my data + café ñ 😀"
    assert stack.summary(job)["source"]["key"] == key
    # the sample's encoding (spaces as '+', '+' as %2B, unicode percent-encoded) decodes the same
    stack.s3.delete_object(Bucket=DATA, Key=f"results/{job}.summary.json")
    stack.invoke(sqs_event(s3_notification(DATA, key, put["ETag"], sequencer="")))
    assert f"results/{job}.summary.json" not in stack.keys("results/")  # a duplicate: nothing redone
    other = stack.upload("incoming/second file.jsonl", _lines({"text": "ok"}))
    stack.invoke(sqs_event(s3_notification(DATA, "incoming/second file.jsonl", other["ETag"], sequencer="1")))
    assert stack.summary("second file")["counts"]["ok"] == 1


def test_test_events_and_unrelated_keys_are_acknowledged_and_ignored(stack):
    test_event = json.dumps(load_event("s3_test_event.json"))
    stack.upload("elsewhere/x.jsonl", _lines({"text": "good"}))  # outside the notification prefix
    outside = s3_notification(DATA, "elsewhere/x.jsonl", "abc")
    results_key = s3_notification(DATA, "results/x.jsonl", "abc")
    folder = s3_notification(DATA, "incoming/", "abc")
    response = stack.invoke(sqs_event(test_event, outside, results_key, folder))
    assert response == {"batchItemFailures": []}
    stack.drain()  # moto's own s3:TestEvent from the notification setup
    assert stack.keys("results/") == []


def test_unsupported_format_and_unknown_model_give_failed_summaries(stack):
    stack.upload("incoming/notes.txt", "hello\n")
    stack.upload("incoming/ghost.jsonl", _lines({"text": "good"}), model="no-such-model")
    stack.drain()
    notes, ghost = stack.summary("notes"), stack.summary("ghost")
    assert notes["status"] == "failed" and "unsupported format" in notes["reason"]
    assert ghost["status"] == "failed" and "no-such-model" in ghost["reason"]
    for doc in (notes, ghost):
        c = doc["counts"]
        assert c["ok"] + c["failed"] == c["lines_read"] == 0
    assert "results/ghost.jsonl" not in stack.keys("results/")


def test_unreadable_object_gives_a_failed_summary(stack):
    put = stack.upload("incoming/gone.jsonl", _lines({"text": "good"}))
    stack.receive()  # moto's notifications: dropped, we send our own after the object is gone
    stack.s3.delete_object(Bucket=DATA, Key="incoming/gone.jsonl")
    response = stack.invoke(sqs_event(s3_notification(DATA, "incoming/gone.jsonl", put["ETag"])))
    assert response == {"batchItemFailures": []}
    summary = stack.summary("gone")
    assert summary["status"] == "failed" and "unreadable" in summary["reason"]


def test_malformed_message_is_reported_as_a_batch_item_failure(stack):
    event = sqs_event("not json at all", s3_notification(DATA, "elsewhere/y.jsonl", "abc"), receive_count=5)
    response = stack.invoke(event)
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}


def _emf(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]


def test_poison_message_on_its_last_receive_is_counted(stack, capsys):
    capsys.readouterr()
    stack.invoke(sqs_event("not json", receive_count=1))
    early = _emf(capsys.readouterr().out)
    assert not any("BatchPoisonMessages" in m for m in early)
    stack.invoke(sqs_event("not json", receive_count=stack.settings.batch_max_receives))
    last = _emf(capsys.readouterr().out)
    poison = [m for m in last if "BatchPoisonMessages" in m]
    assert poison and poison[0]["BatchPoisonMessages"] in (1.0, [1.0]) and poison[0]["service"] == "batch"
    assert poison[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "ServerlessNLP"


def test_line_metrics_are_emitted(stack, capsys):
    capsys.readouterr()
    stack.upload("incoming/m.jsonl", _lines({"text": "good"}, "{bad"))
    stack.drain()
    points = {k: v for m in _emf(capsys.readouterr().out) for k, v in m.items() if k.startswith("Batch")}
    assert points["BatchLinesOk"] in (1.0, [1.0]) and points["BatchLinesFailed"] in (1.0, [1.0])


def test_versioned_bucket_each_version_once_and_a_late_older_event_is_superseded(stack):
    stack.s3.put_bucket_versioning(Bucket=DATA, VersioningConfiguration={"Status": "Enabled"})
    stack.receive()  # drop moto's own notifications: this test sends events with S3's sequencers
    key = "incoming/ver.jsonl"
    v1 = stack.upload(key, _lines({"text": "good"}))
    v2 = stack.upload(key, _lines({"text": "bad"}, {"text": "sad"}))
    while stack.receive():
        pass
    newer = s3_notification(DATA, key, v2["ETag"], version_id=v2["VersionId"], sequencer="0062E99A88DC407460")
    older = s3_notification(DATA, key, v1["ETag"], version_id=v1["VersionId"], sequencer="0062E99A88DC407450")
    assert stack.invoke(sqs_event(newer)) == {"batchItemFailures": []}
    assert stack.summary("ver")["source"]["version_id"] == v2["VersionId"]
    assert stack.invoke(sqs_event(older, newer)) == {"batchItemFailures": []}  # late + duplicate
    summary = stack.summary("ver")
    assert summary["source"]["version_id"] == v2["VersionId"] and summary["counts"]["lines_read"] == 2
    assert len(stack.jsonl("results/ver.jsonl")) == 2


class ShrinkingContext(FakeContext):
    """A Lambda context whose invocation is nearly over after the first call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def get_remaining_time_in_millis(self) -> int:
        self.calls += 1
        return 900_000 if self.calls == 1 else 100_000


def test_records_left_when_the_invocation_is_nearly_over_are_handed_back(stack):
    stack.upload("incoming/first.jsonl", _lines({"text": "good"}))
    stack.upload("incoming/second.jsonl", _lines({"text": "bad"}))
    messages = stack.receive(10)
    assert len(messages) == 3  # moto's s3:TestEvent and the two uploads
    batch_handler.reset(stack.worker())
    response = batch_handler.handler(to_lambda_event(messages, stack.queue_url), ShrinkingContext())
    deferred = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    assert deferred == {m["MessageId"] for m in messages[1:]}
    again = stack.receive(10)
    assert {m["MessageId"] for m in again} == deferred  # visible again at once
    assert stack.invoke(to_lambda_event(again, stack.queue_url)) == {"batchItemFailures": []}
    assert stack.summary("first")["status"] == stack.summary("second")["status"] == "done"


def test_with_truncation_off_texts_over_the_limits_are_error_lines(stack):
    strict = stack.with_settings(truncate=False)
    long_tokens = " ".join(["good"] * 40)  # the tiny model's max_length is 16 tokens
    strict.upload("incoming/strict.jsonl", _lines({"text": "good"}, {"text": "x" * 3000}, {"text": long_tokens},
                                                  {"text": "bad"}))
    strict.drain()
    assert strict.summary("strict")["counts"] == {"lines_read": 4, "ok": 2, "failed": 2}
    errors = strict.jsonl("results/strict.errors.jsonl")
    assert [(e["line"], e["code"]) for e in errors] == [(2, "text-too-long"), (3, "text-too-long")]

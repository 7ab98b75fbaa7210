"""Pieces of the sweep that need no model, no AWS and no timing."""
from __future__ import annotations

import json
import os
import sys

import pytest

from infra.cost import throttle
from infra.cost.sweep import sample_texts
from infra.cost.sweep_worker import Calls, http_event


@pytest.fixture
def fake_cgroup_v1(tmp_path, monkeypatch):
    cpu = tmp_path / "cpu"
    cpu.mkdir()
    (cpu / "cpu.cfs_quota_us").write_text("-1")
    monkeypatch.setattr(throttle, "CGROUP_ROOT", tmp_path)
    return cpu


def test_cgroup_quota_is_the_lambda_share_of_each_period(fake_cgroup_v1):
    make, method = throttle.limiter_factory(host_cpus=2)
    assert "cgroup v1" in method
    limit = make(512 / 1769)
    group = limit.dir
    assert (group / "cpu.cfs_period_us").read_text() == str(throttle.PERIOD_US)
    assert int((group / "cpu.cfs_quota_us").read_text()) == round(512 / 1769 * throttle.PERIOD_US)
    for control in group.iterdir():  # cgroupfs drops these itself; a plain folder needs help
        control.unlink()
    limit.close()
    assert not group.exists()


def test_a_share_beyond_the_host_is_capped_at_its_cores(fake_cgroup_v1):
    make, _ = throttle.limiter_factory(host_cpus=2)
    limit = make(4096 / 1769)
    assert int((limit.dir / "cpu.cfs_quota_us").read_text()) == 2 * throttle.PERIOD_US


def test_without_a_writable_cgroup_the_signal_method_is_used(tmp_path, monkeypatch):
    monkeypatch.setattr(throttle, "CGROUP_ROOT", tmp_path)
    make, method = throttle.limiter_factory(host_cpus=2)
    assert "SIGSTOP" in method and isinstance(make(0.5), throttle.SignalLimit)
    with pytest.raises(RuntimeError, match="signal"):
        throttle.limiter_factory(host_cpus=2, force="cgroup")


class _Recorded(throttle.CpuLimit):
    """A limit that records what the child saw: preexec runs in the child, so it writes a file."""

    def __init__(self, marker) -> None:
        super().__init__(0.5)
        self.marker, self.attached, self.closed = marker, None, False

    def preexec(self) -> None:
        self.marker.write_text(str(os.getpid()))

    def attach(self, pid: int) -> None:
        self.attached = pid

    def close(self) -> None:
        self.closed = True


def test_run_limited_joins_the_limit_before_exec_and_closes_it(tmp_path):
    limit = _Recorded(tmp_path / "child-pid")
    # the child's niceness as its exit status, shifted by 20: a run under a negative niceness (CI at nice -5)
    # would otherwise exit with a negative status, which the OS reports modulo 256
    rc = throttle.run_limited([sys.executable, "-c", "import os; raise SystemExit(os.nice(0) + 20)"], limit, nice=3)
    assert rc - 20 == min(19, os.nice(0) + 3)  # niceness raised by 3 in the child (allowed without root)
    assert int((tmp_path / "child-pid").read_text()) == limit.attached and limit.closed


def test_http_api_v2_event_carries_the_token_and_body():
    event = http_event("/v1/classify", {"model": "sentiment:int8", "texts": ["hi"]}, "snlp_x")
    assert event["version"] == "2.0" and event["requestContext"]["http"]["method"] == "POST"
    assert event["headers"]["authorization"] == "Bearer snlp_x"
    assert json.loads(event["body"]) == {"model": "sentiment:int8", "texts": ["hi"]}


def test_dynamodb_request_units_are_counted_per_operation():
    calls = Calls()
    calls._count_ddb("GetItem", {"ConsistentRead": True})
    calls._count_ddb("GetItem", {})
    calls._count_ddb("UpdateItem", {})
    calls._count_ddb("TransactWriteItems", {"TransactItems": [{}, {}]})
    assert (calls.ddb_read_units, calls.ddb_write_units, calls.ddb_write_ops) == (1.5, 5.0, 2)


def test_sample_texts_are_fixed_by_the_seed():
    texts = sample_texts(8)
    assert texts == sample_texts(8) and len(texts) == 8 and all(t.strip() for t in texts)


def test_single_text_requests_send_a_text_of_about_twenty_tokens():
    from infra.cost.sweep import goal_text_first

    texts = ["one two", "a b c d e f g h i j k l m n o p", "x y z"]
    first = goal_text_first(texts)
    assert first[0] == texts[1] and sorted(first) == sorted(texts)


def test_the_priced_cold_start_is_the_median_of_every_fresh_process():
    from infra.cost.sweep import _cold_fields, _median_cold

    runs = [_cold_fields({"init_ms": ms, "first_request_ms": ms / 10, "s3_get": 4}) for ms in (900, 600, 700, 650, 2000)]
    assert "s3_get" not in runs[0]
    assert _median_cold(runs) == {"init_ms": 700, "first_request_ms": 70}

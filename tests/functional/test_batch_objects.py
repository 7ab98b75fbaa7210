"""Streaming S3 reads (windowed, ranged, version-pinned) and multipart writes, against moto."""
from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from functions.batch.s3_streams import S3Writer, Source, SourceChangedError, SourceError, concat, head, read_range


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="bkt")
        yield client


@pytest.mark.parametrize("start, end, window, chunk", [(0, None, 1000, 7), (0, None, 1 << 20, 100),
                                                       (5, 777, 100, 3), (0, None, 3, 2), (10239, None, 50, 50)])
def test_read_range_returns_exactly_the_bytes_asked_for(s3, start, end, window, chunk):
    data = bytes(range(256)) * 40
    etag = s3.put_object(Bucket="bkt", Key="k", Body=data)["ETag"].strip('"')
    got = b"".join(read_range(s3, Source("bkt", "k", etag), start, end, chunk_size=chunk, window=window))
    assert got == data[start:end]


def test_empty_objects_and_empty_ranges(s3):
    s3.put_object(Bucket="bkt", Key="e", Body=b"")
    assert b"".join(read_range(s3, Source("bkt", "e"))) == b""
    assert b"".join(read_range(s3, Source("bkt", "e"), 0, 0)) == b""


def test_a_replaced_or_missing_object_is_reported(s3):
    etag = s3.put_object(Bucket="bkt", Key="k", Body=b"one")["ETag"].strip('"')
    s3.put_object(Bucket="bkt", Key="k", Body=b"two")
    with pytest.raises(SourceChangedError):
        head(s3, Source("bkt", "k", etag))
    with pytest.raises(SourceChangedError):
        list(read_range(s3, Source("bkt", "k", etag)))
    with pytest.raises(SourceError):
        list(read_range(s3, Source("bkt", "missing")))


def test_versioned_reads_are_pinned_to_the_announced_version(s3):
    s3.put_bucket_versioning(Bucket="bkt", VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket="bkt", Key="k", Body=b"first")["VersionId"]
    s3.put_object(Bucket="bkt", Key="k", Body=b"second")
    assert b"".join(read_range(s3, Source("bkt", "k", version_id=first))) == b"first"


def test_writer_goes_multipart_beyond_one_part_and_keeps_memory_to_one_part(s3):
    part = 5 << 20
    writer = S3Writer(s3, "bkt", "out", part_size=part)
    block = b"x" * (1 << 20)
    for _ in range(6):
        writer.write(block)
        assert len(writer._buf) < part
    writer.close()
    assert s3.head_object(Bucket="bkt", Key="out")["ContentLength"] == 6 << 20
    assert writer.bytes_written == 6 << 20


def test_writer_small_output_is_one_put_and_an_error_leaves_nothing(s3):
    with S3Writer(s3, "bkt", "small") as w:
        w.write(b"abc")
    assert s3.get_object(Bucket="bkt", Key="small")["Body"].read() == b"abc"
    with pytest.raises(RuntimeError):
        with S3Writer(s3, "bkt", "broken", part_size=5 << 20) as w:
            w.write(b"y" * (6 << 20))
            raise RuntimeError("crash mid-write")
    assert "Contents" not in s3.list_objects_v2(Bucket="bkt", Prefix="broken")
    assert not s3.list_multipart_uploads(Bucket="bkt").get("Uploads")


def test_concat_joins_big_parts_inside_s3_and_streams_small_ones(s3):
    big = [bytes([65 + i]) * (5 << 20) for i in range(2)]
    for i, body in enumerate(big + [b"tail\n"]):
        s3.put_object(Bucket="bkt", Key=f"p/{i}", Body=body)
    assert concat(s3, "bkt", ["p/0", "p/1", "p/2"], "joined") == 2 * (5 << 20) + 5
    assert s3.get_object(Bucket="bkt", Key="joined")["Body"].read() == b"".join(big) + b"tail\n"
    s3.put_object(Bucket="bkt", Key="s/0", Body=b"a\n")
    s3.put_object(Bucket="bkt", Key="s/1", Body=b"")
    s3.put_object(Bucket="bkt", Key="s/2", Body=b"b\n")
    assert concat(s3, "bkt", ["s/0", "s/1", "s/2"], "small") == 4
    assert s3.get_object(Bucket="bkt", Key="small")["Body"].read() == b"a\nb\n"
    assert concat(s3, "bkt", [], "none") == 0
    assert s3.get_object(Bucket="bkt", Key="none")["Body"].read() == b""

"""`snlp` against a small fake of the HTTP contract on 127.0.0.1 (the real stack: tests/e2e)."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from infra.cli import main

TOKEN = "snlp_good"


class FakeApi(BaseHTTPRequestHandler):
    jobs: dict[str, dict] = {}
    uploads: dict[str, bytes] = {}
    polls: dict[str, int] = {}

    def log_message(self, *args):  # quiet
        pass

    def _send(self, status: int, body, ctype="application/json", headers=None):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)

    def _authed(self) -> bool:
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._send(401, {"type": "https://x/problems/invalid-token", "title": "Invalid access token",
                             "status": 401, "detail": "the token is not valid"}, "application/problem+json")
            return False
        return True

    def _json(self):
        return json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")

    def do_POST(self):  # noqa: N802
        if not self._authed():
            return
        body = self._json()
        base = f"http://127.0.0.1:{self.server.server_port}"
        if self.path == "/v1/classify":
            if any(len(t) > 100 for t in body["texts"]):
                return self._send(422, {"type": "x/text-too-long", "detail": "text 0 has 500 characters; the limit is 100"})
            preds = [{"label": "positive", "score": 0.9, "scores": {"negative": 0.05, "neutral": 0.05, "positive": 0.9}}
                     for _ in body["texts"]]
            return self._send(200, {"model": "sentiment@v1", "predictions": preds})
        if self.path == "/v1/similarity":
            return self._send(200, {"model": "m@v", "scores": [0.8125] * len(body["targets"])})
        if self.path == "/v1/embed":
            return self._send(200, {"model": "m@v", "dim": 2, "embeddings": [[0.6, 0.8]] * len(body["texts"])})
        if self.path == "/v1/batch":
            job = f"job{len(self.jobs) + 1}"
            self.jobs[job] = body
            return self._send(201, {"job_id": job, "upload_url": f"{base}/upload/{job}"})
        self._send(404, {"type": "x/not-found"})

    def do_PUT(self):  # noqa: N802 - the presigned upload
        job = self.path.rsplit("/", 1)[-1]
        self.uploads[job] = self.rfile.read(int(self.headers["Content-Length"]))
        self._send(200, b"", "text/plain")

    def do_GET(self):  # noqa: N802
        base = f"http://127.0.0.1:{self.server.server_port}"
        if self.path.startswith("/results/"):
            return self._send(200, b'{"id": "1", "label": "positive"}\n', "application/x-ndjson")
        if not self._authed():
            return
        job = self.path.rsplit("/", 1)[-1]
        n = self.polls[job] = self.polls.get(job, 0) + 1
        if n < 3:
            return self._send(200, {"job_id": job, "status": "running", "counts": {"ok": n, "failed": 0}})
        if self.jobs.get(job, {}).get("filename") == "over-quota.jsonl":
            return self._send(200, {"job_id": job, "status": "quota-exceeded", "counts": {"ok": 1, "failed": 0},
                                    "reason": "quota-exceeded: the token's daily quota ran out after 1 lines",
                                    "results_url": f"{base}/results/{job}"})
        self._send(200, {"job_id": job, "status": "done", "counts": {"ok": 2, "failed": 1},
                         "results_url": f"{base}/results/{job}", "errors_url": f"{base}/results/{job}.errors"})


@pytest.fixture()
def api(monkeypatch, tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    monkeypatch.setenv("SNLP_API_URL", url)
    monkeypatch.setenv("SNLP_TOKEN", TOKEN)
    monkeypatch.setenv("SNLP_CONFIG", str(tmp_path / "none.toml"))
    yield url
    server.shutdown()


def test_classify_prints_label_and_probabilities(api, capsys):
    assert main(["classify", "great stuff"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("positive   0.900")
    assert "negative 0.050" in out


def test_classify_reads_stdin(api, capsys, monkeypatch):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("one\n\ntwo\n"))
    assert main(["classify", "-"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_similarity_and_embed(api, capsys):
    assert main(["similarity", "a", "b"]) == 0
    assert capsys.readouterr().out.strip() == "0.8125"
    assert main(["embed", "a", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dim"] == 2


def test_wrong_token_and_validation_errors_are_plain(api, capsys):
    assert main(["classify", "x", "--token", "snlp_bad"]) == 4
    err = capsys.readouterr().err
    assert "the token (from --api-url/--token) was not accepted (HTTP 401: the token is not valid)" in err
    assert main(["classify", "x" * 500]) == 2
    assert "HTTP 422: text 0 has 500 characters" in capsys.readouterr().err


def test_unreachable_api_is_plain(monkeypatch, capsys, tmp_path):
    from infra.local.preflight import free_port

    monkeypatch.setenv("SNLP_CONFIG", str(tmp_path / "none.toml"))
    assert main(["classify", "x", "--api-url", f"http://127.0.0.1:{free_port()}", "--token", "t"]) == 3
    assert "cannot reach the API" in capsys.readouterr().err


def test_batch_submit_uploads_polls_and_downloads(api, capsys, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "1", "text": "a"}\n{"id": "2", "text": "b"}\n{"id": "3", "text": ""}\n')
    out_dir = tmp_path / "out"
    assert main(["batch", "submit", str(src), "--model", "sentiment", "-o", str(out_dir),
                 "--poll-interval", "0.01"]) == 0
    captured = capsys.readouterr()
    assert FakeApi.uploads["job1"] == src.read_bytes()
    # the file's lines are declared: the API reserves them from the token's quota
    assert FakeApi.jobs["job1"] == {"format": "jsonl", "filename": "in.jsonl", "model": "sentiment", "texts": 3,
                                    "bytes": src.stat().st_size}
    assert "1/3 lines" in captured.err and "3/3 lines" in captured.err  # progress, then done
    saved = [Path(p) for p in captured.out.split()]
    assert [p.name for p in saved] == ["job1.jsonl", "job1.errors.jsonl"]
    assert json.loads(saved[0].read_text())["label"] == "positive"
    assert "2 ok, 1 failed" in captured.err


def test_batch_stopped_at_the_quota_saves_what_ran_and_exits_like_a_429(api, capsys, tmp_path):
    src = tmp_path / "over-quota.jsonl"
    src.write_text('{"text": "a"}\n{"text": "b"}\n')
    assert main(["batch", "submit", str(src), "-o", str(tmp_path / "out"), "--poll-interval", "0.01"]) == 5
    captured = capsys.readouterr()
    assert [Path(p).suffix for p in captured.out.split()] == [".jsonl"]  # the results that ran, saved
    assert "stopped at the token's daily quota" in captured.err


def test_batch_rejects_other_formats(api, capsys, tmp_path):
    (tmp_path / "x.txt").write_text("hi")
    assert main(["batch", "submit", str(tmp_path / "x.txt")]) == 2
    assert "only .jsonl and .csv" in capsys.readouterr().err

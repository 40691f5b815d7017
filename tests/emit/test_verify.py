"""`verify`: re-read, gunzip, re-hash, compare with the seal or --sha256; exit 0 / 1 / 2."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from evmdigest.cli import main as cli_main
from evmdigest.emit import EmitResult, open_sink
from evmdigest.emit.verify import verify_key, verify_object
from tests.plugins.s3 import Gateway, S3Target

VERDICT = {"height": 5, "flatkv": "aa" * 32, "memiavl": "aa" * 32, "agree": True}


def _emit_s3(target: S3Target, key: str = "v.json") -> EmitResult:
    return open_sink(target.url("runs"), endpoint_url=target.endpoint_url).emit_json(key, VERDICT)


def test_ok_on_s3_and_folder(s3_bucket: S3Target, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    s3 = _emit_s3(s3_bucket)
    local = open_sink(tmp_path.as_uri()).emit_json("seg/v.json", VERDICT)
    for result, endpoint in ((s3, s3_bucket.endpoint_url), (local, None)):
        assert cli_main(["verify", result.uri, *(["--endpoint-url", endpoint] if endpoint else [])]) == 0
        printed = json.loads(capsys.readouterr().out)
        assert printed["status"] == "ok" and printed["exit_code"] == 0
        assert printed["expected"] == printed["actual"] == result.uncompressed_sha256
        assert printed["uri"] == result.uri


def test_tampered_s3_object_is_a_mismatch(s3_bucket: S3Target) -> None:
    result = _emit_s3(s3_bucket)
    forged = gzip.compress(json.dumps({**VERDICT, "agree": False}).encode())
    s3_bucket.client().put_object(Bucket=s3_bucket.bucket, Key="runs/v.json", Body=forged)  # no If-None-Match
    outcome = verify_object(result.uri, endpoint_url=s3_bucket.endpoint_url)
    assert (outcome.status, outcome.exit_code) == ("mismatch", 1)
    assert outcome.expected == result.uncompressed_sha256 != outcome.actual
    assert "payload sha256" in outcome.detail


def test_recompressed_object_with_the_same_payload_is_still_a_mismatch(s3_bucket: S3Target) -> None:
    """The seal pins the stored bytes too: a replaced object is flagged even if it gunzips the same."""
    result = _emit_s3(s3_bucket)
    client = s3_bucket.client()
    payload = gzip.decompress(client.get_object(Bucket=s3_bucket.bucket, Key="runs/v.json")["Body"].read())
    client.put_object(Bucket=s3_bucket.bucket, Key="runs/v.json", Body=gzip.compress(payload, 9, mtime=1))
    outcome = verify_object(result.uri, endpoint_url=s3_bucket.endpoint_url)
    assert outcome.actual == outcome.expected == result.uncompressed_sha256
    assert outcome.status == "mismatch" and "gzip sha256" in outcome.detail


def test_corrupted_folder_object_is_a_mismatch(tmp_path: Path) -> None:
    result = open_sink(tmp_path.as_uri()).emit_json("v.json", VERDICT)
    data = bytearray((tmp_path / "v.json").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "v.json").write_bytes(bytes(data))
    outcome = verify_object(result.uri)
    assert (outcome.status, outcome.exit_code) == ("mismatch", 1)


def test_missing_seal_and_the_sha256_override(s3_bucket: S3Target) -> None:
    result = _emit_s3(s3_bucket)
    s3_bucket.client().delete_object(Bucket=s3_bucket.bucket, Key="runs/v.json.seal.json")
    missing = verify_object(result.uri, endpoint_url=s3_bucket.endpoint_url)
    assert (missing.status, missing.exit_code) == ("missing_seal", 1)
    assert missing.actual == result.uncompressed_sha256 and "seal" in missing.detail

    given = verify_object(result.uri, sha256=result.uncompressed_sha256.upper(), endpoint_url=s3_bucket.endpoint_url)
    assert (given.status, given.exit_code) == ("ok", 0)
    wrong = verify_object(result.uri, sha256="0" * 64, endpoint_url=s3_bucket.endpoint_url)
    assert (wrong.status, wrong.exit_code) == ("mismatch", 1)


def test_verify_key_on_an_open_sink_names_the_check_that_failed(tmp_path: Path) -> None:
    """One open sink, many keys (the ledger's way): each outcome says which check failed in `problem`."""
    sink = open_sink(tmp_path.as_uri())
    for key in ("ok.json", "tampered.json", "unsealed.json", "badseal.json", "notgzip.json"):
        sink.emit_json(key, VERDICT)
    (tmp_path / "tampered.json").write_bytes(gzip.compress(json.dumps({**VERDICT, "agree": False}).encode()))
    (tmp_path / "unsealed.json.seal.json").unlink()
    (tmp_path / "badseal.json.seal.json").write_bytes(gzip.compress(b'{"format": "something else"}'))
    (tmp_path / "notgzip.json").write_bytes(b"plain text")
    problems = {key: verify_key(sink, key).problem for key in sink.list_keys()}
    assert problems == {
        "ok.json": None,
        "tampered.json": "tampered",
        "unsealed.json": "missing_seal",
        "badseal.json": "seal_unreadable",
        "notgzip.json": "object_unreadable",
    }
    assert verify_key(sink, "gone.json").problem == "unreachable"


def test_unreachable(
    s3_bucket: S3Target, make_s3_gateway: Callable[[], Gateway], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = verify_object(f"s3://{s3_bucket.bucket}/runs/never-written.json", endpoint_url=s3_bucket.endpoint_url)
    assert (gone.status, gone.exit_code) == ("unreachable", 2)
    assert verify_object((tmp_path / "nothing.json").as_uri()).exit_code == 2

    result = _emit_s3(s3_bucket)
    server = make_s3_gateway()
    server.stop()
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # boto3's own knob: verify uses the standard chain
    down = verify_object(result.uri, endpoint_url=server.endpoint_url)
    assert (down.status, down.exit_code) == ("unreachable", 2)
    assert server.endpoint_url in down.detail


def test_malformed_sha256_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = open_sink(tmp_path.as_uri()).emit_json("v.json", VERDICT)
    assert cli_main(["verify", result.uri, "--sha256", "not-hex"]) == 2
    assert "--sha256" in capsys.readouterr().err


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_verify_as_a_process(s3_bucket: S3Target) -> None:
    """A real subprocess that finds the store through the environment, as an operator would."""
    result = _emit_s3(s3_bucket)
    ok = _run([sys.executable, "-m", "evmdigest.cli", "verify", result.uri], s3_bucket.env())
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["actual"] == result.uncompressed_sha256
    s3_bucket.client().delete_object(Bucket=s3_bucket.bucket, Key="runs/v.json.seal.json")
    missing = _run([sys.executable, "-m", "evmdigest.cli", "verify", result.uri], s3_bucket.env())
    assert missing.returncode == 1 and json.loads(missing.stdout)["status"] == "missing_seal"


def test_evm_digest_verify_command(s3_bucket: S3Target) -> None:
    """The installed `evm-digest verify` entry point (wired in evmdigest/cli.py by the lead)."""
    result = _emit_s3(s3_bucket)
    exe = str(Path(sys.executable).with_name("evm-digest"))
    ok = _run([exe, "verify", result.uri, "--sha256", result.uncompressed_sha256], s3_bucket.env())
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["status"] == "ok"
    bad = _run([exe, "verify", result.uri, "--sha256", "1" * 64], s3_bucket.env())
    assert bad.returncode == 1 and json.loads(bad.stdout)["status"] == "mismatch"

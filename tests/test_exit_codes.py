"""Exit codes a script can trust, through the real `evm-digest` console script against simulated nodes:
0 all match / nothing to seal, 1 digests differ (records published), 2 nothing published, 3 orchestration
unavailable. Every failure is one line (+ hint) on stderr and never a traceback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from evmdigest.sim.store import SCAN_LOG_ENV
from tests.console import CLOSED_API, assert_one_failure, cli, env_with
from tests.plugins.deployment import records_under
from tests.plugins.sim import MakeNode, SimNode

HEIGHT = 213200000


def _records(sink: Path) -> list[str]:
    return records_under(sink) if sink.exists() else []


def _run(node: SimNode, sim_binary: Path, *extra: str) -> list[str]:
    return ["run", "--flatkv-dir", str(node.flatkv_dir), "--memiavl-dir", str(node.memiavl_dir),
            "--seidb", str(sim_binary), *extra]  # fmt: skip


def test_exit_0_when_every_normalization_matches_then_nothing_to_seal(
    prefect_api: str, tmp_path: Path, make_node: MakeNode, sim_binary: Path
) -> None:
    node = make_node(tmp_path, height=HEIGHT, rows=1000)
    env = env_with(PREFECT_API_URL=prefect_api)
    # A plain relative sink path is the folder sink, relative to where the command runs.
    done = cli(*_run(node, sim_binary, "--height", str(HEIGHT), "--sink", "sealed", "--node", "cli-node"),
               env=env, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert "semantic   MATCH" in done.stdout and "translator MATCH" in done.stdout
    assert "| bucket   | semantic match   | translator match" in done.stdout  # the per-bucket table, match first
    assert f"file://{tmp_path}/sealed/" in done.stdout
    assert len(_records(tmp_path / "sealed")) == 4  # two records, two seals

    again = cli(*_run(node, sim_binary, "--sink", str(tmp_path / "sealed"), "--node", "cli-node"), env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "nothing to seal" in again.stdout


def test_exit_1_when_digests_differ_and_the_records_are_published(
    prefect_api: str, tmp_path: Path, make_node: MakeNode, sim_binary: Path
) -> None:
    node = make_node(tmp_path, height=HEIGHT, rows=1000, diverge="code")
    env = env_with(PREFECT_API_URL=prefect_api)
    sink = tmp_path / "sealed"
    args = _run(node, sim_binary, "--height", str(HEIGHT), "--sink", str(sink), "--normalization", "translator")
    done = cli(*args, env=env)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert f"evm-digest: digest mismatch at {HEIGHT}: code (translator)" in done.stderr
    objects = [f"endpoint-digest-{HEIGHT}-translator.json.gz", f"endpoint-divergence-{HEIGHT}-translator.ndjson.gz"]
    published = sorted(p.name for p in sink.rglob("endpoint-*") if ".intent-" not in p.name)
    assert published == sorted(objects + [f"{o}.seal.json" for o in objects])  # the record and its localization
    assert "translator diverging keys: 1 (complete)" in done.stdout and "  code     changed " in done.stdout


def test_exit_2_when_the_gate_fails_and_nothing_is_published(
    prefect_api: str, tmp_path: Path, make_node: MakeNode, sim_binary: Path
) -> None:
    node = make_node(tmp_path, height=HEIGHT, rows=1000)
    node.set_faults("memiavl", clamp_version=HEIGHT - 100)
    env = env_with(PREFECT_API_URL=prefect_api)
    sink = tmp_path / "sealed"
    done = cli(*_run(node, sim_binary, "--height", str(HEIGHT), "--sink", str(sink)), env=env)
    assert done.returncode == 2, done.stderr[-3000:]
    message, *hint = assert_one_failure(done.stderr)
    assert f"memiavl/semantic opened version {HEIGHT - 100}, requested {HEIGHT}" in message
    assert hint and hint[0].startswith("hint: ")
    assert _records(sink) == []


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [
        ("--node", "evil\nINFO | Flow run forged", "--node: 'evil\\nINFO | Flow run forged' contains control"),
        ("--node", "n" * 300, "--node: 'nnnnnnnn"),
        ("--node", "../../etc", "--node: '../../etc' is not a node label"),
        ("--timeout", "inf", "--timeout: inf is not a scan timeout; give seconds, > 0 and <= 604800"),
        ("--timeout", "nan", "--timeout: nan is not a scan timeout"),
        ("--height", str(2**70), f"--height: {2**70} is not a block height; use 1 to 9223372036854775807"),
        ("--sink", "ftp://host/dir", "--sink: sink url 'ftp://host/dir': unsupported scheme 'ftp'"),
        ("--sink", "s3://Not_A_Bucket/x", "--sink: sink url 's3://Not_A_Bucket/x': bucket name"),
        ("--seidb", "/nonexistent/seidb", "--seidb: '/nonexistent/seidb' does not exist"),
        ("--flatkv-dir", "/nonexistent/flatkv", "--flatkv-dir: '/nonexistent/flatkv' does not exist"),
    ],
)
def test_exit_2_for_a_bad_or_hostile_parameter_before_anything_starts(
    tmp_path: Path, make_node: MakeNode, sim_binary: Path, flag: str, value: str, expected: str
) -> None:
    node = make_node(tmp_path, height=HEIGHT, rows=50)
    scans, sink = tmp_path / "scans.ndjson", tmp_path / "sealed"
    # A closed API port: had the request reached Prefect, the exit code would be 3, not 2.
    env = env_with(PREFECT_API_URL=CLOSED_API, **{SCAN_LOG_ENV: str(scans)})
    args = _run(node, sim_binary, "--height", str(HEIGHT), "--sink", str(sink))
    done = cli(*args, flag, value, env=env)  # argparse keeps the last of a repeated option
    assert done.returncode == 2, done.stderr
    assert done.stdout == "" and "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"evm-digest run: {expected}"), done.stderr
    assert not scans.exists() and not sink.exists()  # nothing scanned, nothing published


def test_exit_3_when_the_prefect_api_is_unreachable(tmp_path: Path, make_node: MakeNode, sim_binary: Path) -> None:
    node = make_node(tmp_path, height=HEIGHT, rows=50)
    scans = tmp_path / "scans.ndjson"
    env = env_with(PREFECT_API_URL=CLOSED_API, **{SCAN_LOG_ENV: str(scans)})
    done = cli(*_run(node, sim_binary, "--height", str(HEIGHT), "--sink", str(tmp_path / "s")), env=env)
    assert done.returncode == 3, done.stderr
    assert done.stderr.splitlines() == [
        f"evm-digest: Prefect API {CLOSED_API} is unreachable: [Errno 111] Connection refused",
        f"hint: start the Prefect server at {CLOSED_API} (or fix PREFECT_API_URL), then retry; nothing was scanned",
    ]
    assert not scans.exists()


class _Unavailable(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def api_answering_503() -> Iterator[str]:
    # A stand-in, not Prefect: a real Prefect server cannot be made to answer 503 on demand (an
    # overloaded proxy in front of it does). Everything else in the test is real.
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Unavailable)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api"
    server.shutdown()
    server.server_close()


def test_exit_3_when_the_prefect_api_answers_5xx(
    api_answering_503: str, tmp_path: Path, make_node: MakeNode, sim_binary: Path
) -> None:
    node = make_node(tmp_path, height=HEIGHT, rows=50)
    env = env_with(PREFECT_API_URL=api_answering_503)
    done = cli(*_run(node, sim_binary, "--height", str(HEIGHT), "--sink", str(tmp_path / "s")), env=env)
    assert done.returncode == 3, done.stderr
    message, hint = assert_one_failure(done.stderr)
    assert message == f"evm-digest: Prefect API {api_answering_503} answered HTTP 503 to /health"
    assert "retry" in hint


def test_exit_3_when_the_temporary_prefect_server_cannot_start(
    tmp_path: Path, make_node: MakeNode, sim_binary: Path
) -> None:
    node = make_node(tmp_path, height=HEIGHT, rows=50)
    scans = tmp_path / "scans.ndjson"
    env = {k: v for k, v in env_with().items() if not k.startswith("PREFECT_")}
    # A real ephemeral server, given no time to come up: Prefect's own start timeout fires.
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="0",
               **{SCAN_LOG_ENV: str(scans)})  # fmt: skip
    done = cli(*_run(node, sim_binary, "--height", str(HEIGHT), "--sink", str(tmp_path / "s")), env=env)
    assert done.returncode == 3, done.stderr[-3000:]
    message, hint = assert_one_failure(done.stderr)
    assert message.startswith("evm-digest: the temporary Prefect server is unavailable: Timed out")
    assert "retry" in hint and "prefect server start" in hint
    assert not scans.exists()

"""RunRequest / DemoRequest: the one definition of run-parameter checks, shared by the CLI and the flow."""

from __future__ import annotations

import logging
import math
import pickle
import shutil
from pathlib import Path
from typing import Any

import pytest

from evmdigest.models import NodeKind, Normalization, OpenMode
from evmdigest.request import (
    INT64_MAX,
    MAX_SCAN_TIMEOUT,
    OLD_SINK_ENV,
    SEIDB_ENV,
    SINK_ENV,
    DemoRequest,
    RequestError,
    RunRequest,
)

FLAGS = {"endpoint_url": "--endpoint-url", "region": "--region", "sink_url": "--sink", "height": "--height"}


def _run(tmp_path: Path, **values: Any) -> RunRequest:
    return RunRequest.create(**{"flatkv_dir": tmp_path, "memiavl_dir": tmp_path, **values})


def test_defaults_come_from_the_enums(tmp_path: Path) -> None:
    request = _run(tmp_path)
    assert request.normalizations == tuple(Normalization)
    assert request.open_mode is OpenMode.SNAPSHOT
    assert request.height is request.sink_url is request.timeout is None
    typed = _run(tmp_path, normalizations=["translator"], open_mode="replay", height="7", timeout="1.5")
    assert (typed.normalizations, typed.open_mode, typed.height, typed.timeout) == (
        (Normalization.TRANSLATOR,), OpenMode.REPLAY, 7, 1.5
    )  # fmt: skip


@pytest.mark.parametrize(
    ("values", "field", "words"),
    [
        ({"normalizations": ()}, "normalizations", "choose at least one of semantic, translator"),
        ({"normalizations": ("semantic", "semantic")}, "normalizations", "names one twice"),
        ({"normalizations": ("bogus",)}, "normalizations", "'semantic' or 'translator'"),
        ({"open_mode": "fast"}, "open_mode", "'snapshot' or 'replay'"),
        ({"height": 0}, "height", "0 is not a block height; use 1 to 9223372036854775807"),
        ({"timeout": 0}, "timeout", "0 is not a scan timeout; give seconds, > 0 and <= 604800"),
        ({"sink_url": "ftp://host/x"}, "sink_url", "unsupported scheme 'ftp'"),
        ({"region": "eu-west-1"}, "region", "configure an S3 sink"),
        ({"colour": "blue"}, "colour", "Extra inputs"),
    ],
)
def test_each_bad_parameter_is_one_error_naming_its_field(
    tmp_path: Path, values: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(RequestError) as err:
        _run(tmp_path, **values)
    assert err.value.field == field
    assert field in str(err.value) and words in str(err.value)


def test_fields_are_rendered_as_each_front_end_names_them(tmp_path: Path) -> None:
    with pytest.raises(RequestError) as err:
        _run(tmp_path, endpoint_url="http://127.0.0.1:9000")
    assert str(err.value) == "endpoint_url/region configure an S3 sink; add sink_url s3://bucket/prefix"
    assert err.value.render(FLAGS) == "--endpoint-url/--region configure an S3 sink; add --sink s3://bucket/prefix"
    copy = pickle.loads(pickle.dumps(err.value))
    assert (copy.field, str(copy)) == ("endpoint_url", str(err.value))


@pytest.mark.parametrize("height", [0, -1, INT64_MAX + 1, 2**70])
def test_heights_outside_seidbs_int64_are_refused(tmp_path: Path, height: int) -> None:
    with pytest.raises(RequestError, match=r"^height: .* is not a block height; use 1 to 9223372036854775807$"):
        _run(tmp_path, height=height)
    assert _run(tmp_path, height=INT64_MAX).height == INT64_MAX


@pytest.mark.parametrize("timeout", [0.0, -1.0, math.inf, -math.inf, math.nan, MAX_SCAN_TIMEOUT + 1, 1e300])
def test_timeouts_must_be_finite_positive_and_waitable(tmp_path: Path, timeout: float) -> None:
    with pytest.raises(RequestError, match=r"^timeout: .* is not a scan timeout; give seconds, > 0 and <= 604800$"):
        _run(tmp_path, timeout=timeout)
    assert _run(tmp_path, timeout=MAX_SCAN_TIMEOUT).timeout == MAX_SCAN_TIMEOUT


@pytest.mark.parametrize(
    ("label", "problem"),
    [
        ("evil\nINFO | Flow run forged", "contains control characters"),
        ("tab\there", "contains control characters"),
        ("x" * 300, "is 300 characters long"),
        ("x" * 64, "is 64 characters long"),
        ("../../etc", "is not a node label"),
        ("a..b", "is not a node label"),
        ("a/b", "is not a node label"),
        ("-lead", "is not a node label"),
        ("{{ $EVMDIGEST_NODE }}", "is not a node label"),
    ],
)
def test_hostile_node_labels_are_refused_on_one_line(tmp_path: Path, label: str, problem: str) -> None:
    with pytest.raises(RequestError) as err:
        _run(tmp_path, node=label)
    message = str(err.value)
    assert err.value.field == "node" and message.startswith("node: ") and problem in message
    assert "\n" not in message and "\t" not in message  # shown escaped: no forged log line
    assert len(message) < 200
    assert "use 1-63 letters, digits, '.', '_' or '-'" in message


def test_an_empty_value_is_unset_and_a_required_one_is_refused(tmp_path: Path) -> None:
    # What prefect.yaml makes of an unset `{{ $VAR }}`, and what a cleared UI field sends.
    request = _run(tmp_path, sink_url="", seidb_path=" ", node="", region="")
    assert request.sink_url is request.seidb_path is request.node is request.region is None
    with pytest.raises(RequestError, match=r"^flatkv_dir is empty; give it \(in a deployment: set its variable"):
        _run(tmp_path, flatkv_dir="")


def test_good_node_labels_pass(tmp_path: Path) -> None:
    for label in ("node-a", "validator.7_x", "a", "x" * 63):
        assert _run(tmp_path, node=label).node == label


@pytest.mark.parametrize("field", ["seidb_path", "flatkv_dir", "endpoint_url", "region"])
def test_control_characters_are_refused_in_every_text_field(tmp_path: Path, field: str) -> None:
    extra = {"sink_url": "s3://bucket-a/x"} if field in ("endpoint_url", "region") else {}
    with pytest.raises(RequestError, match=rf"^{field}: .* contains control characters") as err:
        _run(tmp_path, **{**extra, field: "x\x1b[31mred"})
    assert err.value.field == field


def test_an_unfilled_prefect_yaml_placeholder_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(RequestError) as err:
        _run(tmp_path, sink_url="{{ $EVMDIGEST_SINK }}")
    assert err.value.field == "sink_url"
    assert "placeholder left unfilled; set EVMDIGEST_SINK before `prefect deploy`" in str(err.value)


def test_plain_sink_paths_become_file_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert _run(tmp_path, sink_url="./sealed").sink_url == (tmp_path / "sealed").as_uri()
    assert _run(tmp_path, sink_url="sealed/../out").sink_url == (tmp_path / "out").as_uri()
    assert _run(tmp_path, sink_url="/srv/evm digest").sink_url == "file:///srv/evm%20digest"
    assert _run(tmp_path, sink_url="s3://bucket-a/p").sink_url == "s3://bucket-a/p"


def test_resolve_fills_defaults_from_the_environment(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    request = _run(tmp_path)
    resolved = request.resolve({SEIDB_ENV: "/bin/true", SINK_ENV: str(tmp_path / "s")})
    assert (resolved.seidb_path, resolved.sink_url) == ("/bin/true", (tmp_path / "s").as_uri())
    with caplog.at_level(logging.WARNING):
        old = request.resolve({SEIDB_ENV: "/bin/true", OLD_SINK_ENV: str(tmp_path / "o")})
    assert old.sink_url == (tmp_path / "o").as_uri()
    assert f"{OLD_SINK_ENV} is deprecated" in caplog.text and SINK_ENV in caplog.text
    assert request.resolve({SEIDB_ENV: "/bin/true"}, sink_block=True).sink_url is None
    given = _run(tmp_path, seidb_path="true", sink_url="s3://bucket-a/x")
    assert given.resolve({SINK_ENV: "s3://other-bucket"}).sink_url == "s3://bucket-a/x"
    assert given.resolve({}).seidb_path == shutil.which("true")


def test_resolve_refuses_what_this_machine_cannot_run(tmp_path: Path) -> None:
    not_exec = tmp_path / "seidb"
    not_exec.write_text("#!/bin/sh\n")
    cases = [
        ({"seidb_path": str(not_exec)}, {}, f"seidb_path: {str(not_exec)!r} is not executable; chmod +x it"),
        ({"seidb_path": "/nonexistent/seidb"}, {}, "seidb_path: '/nonexistent/seidb' does not exist"),
        ({}, {"PATH": str(tmp_path)}, "seidb_path: 'seidb' was not found on PATH"),
        ({}, {SEIDB_ENV: "/nope"}, f"seidb_path (from ${SEIDB_ENV}): '/nope' does not exist"),
        ({}, {SEIDB_ENV: "/bin/true", SINK_ENV: "gs://b"}, f"sink_url (from ${SINK_ENV}): sink url 'gs://b'"),
    ]
    for values, env, message in cases:
        with pytest.raises(RequestError) as err:
            _run(tmp_path, **values).resolve(env)
        assert str(err.value).startswith(message), str(err.value)
    with pytest.raises(RequestError, match=r"^seidb \(SeidbCli block path\): 'nope' was not found") as block_err:
        _run(tmp_path).resolve({}, seidb_block="nope")
    assert block_err.value.field == "seidb"


def test_braces_in_values_are_not_read_as_fields(tmp_path: Path) -> None:
    request = RunRequest.create(flatkv_dir=tmp_path / "{sink_url}", memiavl_dir=tmp_path)
    with pytest.raises(RequestError) as err:
        request.check_stores()
    assert err.value.render(FLAGS) == (
        f"flatkv_dir: {str(tmp_path / '{sink_url}')!r} does not exist on this machine; give the store's directory"
    )


def test_store_dirs_are_checked_where_the_stores_live(tmp_path: Path) -> None:
    request = RunRequest.create(flatkv_dir=tmp_path, memiavl_dir=tmp_path / "missing")  # constructing is fine
    with pytest.raises(RequestError, match=r"^memiavl_dir: .* does not exist on this machine") as err:
        request.check_stores()
    assert err.value.field == "memiavl_dir"
    _run(tmp_path).check_stores()


@pytest.mark.parametrize(
    ("values", "field"),
    [({"seidb_path": "/bin/seidb"}, "seidb_path"), ({"diverge": "balance"}, "diverge"), ({"rows": 0}, "rows")],
)
def test_demo_requests_are_checked_too(values: dict[str, Any], field: str) -> None:
    with pytest.raises(RequestError) as err:
        DemoRequest.create(**values)
    assert err.value.field == field


@pytest.mark.parametrize(
    ("kind", "dirs", "field", "words"),
    [
        ("composite", ("flatkv_dir",), "memiavl_dir", "is required: a composite node reads its memIAVL store"),
        ("pair", ("memiavl_dir",), "flatkv_dir", "is required: a pair node reads its FlatKV store"),
        ("memiavl", ("flatkv_dir", "memiavl_dir"), "flatkv_dir", "a memiavl node has no FlatKV store"),
        ("flatkv", ("flatkv_dir", "memiavl_dir"), "memiavl_dir", "a flatkv node has no memIAVL store"),
        ("flatkv", ("flatkv_dir",), "height", "is required: a flatkv node has no memIAVL snapshots"),
    ],
)
def test_each_kind_takes_exactly_its_store_dirs(
    tmp_path: Path, kind: str, dirs: tuple[str, ...], field: str, words: str
) -> None:
    with pytest.raises(RequestError) as err:
        RunRequest.create(kind=kind, **dict.fromkeys(dirs, tmp_path))
    assert err.value.field == field and words in str(err.value)


def test_a_kind_checks_only_its_own_stores(tmp_path: Path) -> None:
    memiavl = RunRequest.create(kind="memiavl", memiavl_dir=tmp_path)
    assert (memiavl.kind, memiavl.flatkv_dir) == (NodeKind.MEMIAVL, None)
    memiavl.check_stores()
    flatkv = RunRequest.create(kind="flatkv", flatkv_dir=tmp_path / "gone", height=5)
    with pytest.raises(RequestError) as err:
        flatkv.check_stores()
    assert err.value.field == "flatkv_dir"
    assert RunRequest.create(flatkv_dir=tmp_path, memiavl_dir=tmp_path).kind is NodeKind.PAIR  # the default

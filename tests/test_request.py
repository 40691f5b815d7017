"""RunRequest / DemoRequest: the one definition of run-parameter checks, shared by the CLI and the flow."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest

from evmdigest.models import Normalization, OpenMode
from evmdigest.request import DemoRequest, RequestError, RunRequest

FLAGS = {"endpoint_url": "--endpoint-url", "region": "--region", "sink_url": "--sink", "height": "--height"}


def _run(tmp_path: Path, **values: Any) -> RunRequest:
    return RunRequest.create(flatkv_dir=tmp_path, memiavl_dir=tmp_path, **values)


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
        ({"height": 0}, "height", "greater than or equal to 1"),
        ({"timeout": 0}, "timeout", "greater than 0"),
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


def test_braces_in_values_are_not_read_as_fields(tmp_path: Path) -> None:
    request = RunRequest.create(flatkv_dir=tmp_path / "{sink_url}", memiavl_dir=tmp_path)
    with pytest.raises(RequestError) as err:
        request.check_stores()
    assert err.value.render(FLAGS) == (
        f"flatkv_dir: {str(tmp_path / '{sink_url}')!r} is not a directory on this worker; give the store's path"
    )


def test_store_dirs_are_checked_where_the_stores_live(tmp_path: Path) -> None:
    request = RunRequest.create(flatkv_dir=tmp_path, memiavl_dir=tmp_path / "missing")  # constructing is fine
    with pytest.raises(RequestError, match=r"^memiavl_dir: .* is not a directory on this worker") as err:
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

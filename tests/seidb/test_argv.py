"""The one argv builder: digest, inspect and find-hash command lines, shaped like the real seidb's."""

from __future__ import annotations

from pathlib import Path

import pytest

from evmdigest.models import Backend, Normalization, OpenMode
from evmdigest.seidb import DigestRequest, FindHashRequest, InspectRequest, build_argv

FLATKV = DigestRequest(Backend.FLATKV, Path("/data/flatkv"), 2)
H = 213200000
REAL = Path(__file__).resolve().parents[1] / "data" / "seidb-reports" / "real-73f917b"
ENTRY = "58AD0EEFF93B2EC2388F03C90838A01A95BDD3E8D2A2B0FD44618DB481CEE197"


def test_argv_for_every_backend_normalization_and_open_mode() -> None:
    assert build_argv("seidb", FLATKV, json_output=False) == [
        "seidb", "evm-logical-digest", "--backend", "flatkv", "--db-dir", "/data/flatkv", "--height", "2",
    ]  # fmt: skip
    for normalization in Normalization:
        for mode in OpenMode:
            request = DigestRequest(Backend.MEMIAVL, Path("/m"), 7, normalization, mode)
            argv = build_argv("/bin/seidb", request, json_output=True)
            assert argv[-1] == "--json"
            assert argv[argv.index("--memiavl-normalization") + 1] == normalization.value
            assert argv[argv.index("--memiavl-open-mode") + 1] == mode.value
            assert argv[argv.index("--height") + 1] == "7"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"backend": Backend.MEMIAVL, "db_dir": Path("/m"), "height": 1}, "normalization"),
        ({"backend": Backend.FLATKV, "db_dir": Path("/f"), "height": 1, "normalization": Normalization.SEMANTIC},
         "normalization"),
        ({"backend": Backend.FLATKV, "db_dir": Path("/f"), "height": -1}, "height"),
    ],
)  # fmt: skip
def test_invalid_requests_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        DigestRequest(**kwargs)  # type: ignore[arg-type]


def _real(command: str) -> list[str]:
    """A command line as recorded from the real seidb (real-73f917b/*.cmd), `-d` spelled `--db-dir`."""
    return ["--db-dir" if word == "-d" else word for word in command.split()]


@pytest.mark.parametrize(
    ("request_", "recorded"),
    [
        (
            InspectRequest(Backend.FLATKV, Path("flatkv"), H, "storage", key_offset=5, shard_next_bytes=1),
            f"seidb evm-logical-digest --backend flatkv -d flatkv --height {H} --inspect-bucket storage "
            "--key-offset 5 --shard-next-bytes 1",
        ),
        (
            InspectRequest(
                Backend.MEMIAVL, Path("memiavl"), H, "storage", key_offset=5, key_prefix="3a", list_pairs=True
            ),
            f"seidb evm-logical-digest --backend memiavl -d memiavl --height {H} --inspect-bucket storage "
            "--key-offset 5 --key-prefix 3a --list",
        ),
        (
            FindHashRequest(DigestRequest(Backend.MEMIAVL, Path("memiavl"), H, Normalization.SEMANTIC), ENTRY.lower()),
            # As recorded, plus `--memiavl-open-mode snapshot`: a DigestRequest always states its open mode.
            f"seidb evm-logical-digest --backend memiavl -d memiavl --height {H} --memiavl-normalization semantic "
            f"--memiavl-open-mode snapshot --find-hash {ENTRY}",
        ),
    ],
    ids=["inspect-shards", "inspect-list", "find-hash"],
)  # fmt: skip
def test_inspect_and_find_hash_match_the_recorded_real_commands(
    request_: InspectRequest | FindHashRequest, recorded: str
) -> None:
    assert build_argv("seidb", request_, json_output=False) == _real(recorded)


def test_inspect_list_options_and_memiavl_decoder() -> None:
    request = InspectRequest(
        Backend.MEMIAVL, Path("/m"), 7, "misc", key_prefix="00ff", list_pairs=True, list_limit=0, details=True,
        normalization=Normalization.TRANSLATOR, open_mode=OpenMode.REPLAY,
    )  # fmt: skip
    argv = build_argv("seidb", request, json_output=True)
    assert argv[argv.index("--memiavl-normalization") + 1] == "translator"
    assert argv[argv.index("--memiavl-open-mode") + 1] == "replay"
    tail = argv[argv.index("--inspect-bucket") :]
    assert tail == ["--inspect-bucket", "misc", "--key-offset", "0", "--key-prefix", "00ff", "--list",
                    "--list-limit", "0", "--details", "--json"]  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"bucket": "legacy", "shard_next_bytes": 1}, "bucket"),
        ({"bucket": "storage"}, "shard_next_bytes"),
        ({"bucket": "storage", "shard_next_bytes": 1, "list_pairs": True}, "shard_next_bytes"),
        ({"bucket": "storage", "shard_next_bytes": 0}, "shard_next_bytes"),
        ({"bucket": "storage", "shard_next_bytes": 1, "key_prefix": "3"}, "key_prefix"),
        ({"bucket": "storage", "shard_next_bytes": 1, "key_offset": -1}, "key_offset"),
        ({"bucket": "storage", "shard_next_bytes": 1, "details": True}, "list_limit"),
        ({"bucket": "storage", "shard_next_bytes": 1, "normalization": Normalization.SEMANTIC}, "normalization"),
    ],
)
def test_invalid_inspect_requests_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field}:"):
        InspectRequest(Backend.FLATKV, Path("/f"), 1, **kwargs)  # type: ignore[arg-type]


def test_find_hash_needs_a_32_byte_hex_hash() -> None:
    with pytest.raises(ValueError, match=r"^entry_hash:"):
        FindHashRequest(FLATKV, "abc")


def test_composite_request_names_both_dirs_like_the_recorded_real_command() -> None:
    request = DigestRequest.composite(Path("flatkv"), Path("memiavl"), H)
    recorded = (REAL / "mid-migration-clean.composite.cmd").read_text().split("(in fixture")[0].removeprefix("$ ")
    # As recorded, plus `--memiavl-open-mode snapshot`: a composite request states its memIAVL open mode too.
    assert build_argv("seidb", request, json_output=False) == [*recorded.split(), "--memiavl-open-mode", "snapshot"]
    assert (request.label, request.flatkv_dir, request.memiavl_dir) == ("composite", Path("flatkv"), Path("memiavl"))
    find = FindHashRequest(request, ENTRY)
    assert build_argv("seidb", find, json_output=True)[-3:] == ["--find-hash", ENTRY, "--json"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"backend": Backend.COMPOSITE, "db_dir": Path("/f"), "height": 1}, "memiavl_dir"),
        ({"backend": Backend.FLATKV, "db_dir": Path("/f"), "height": 1, "memiavl_dir": Path("/m")}, "memiavl_dir"),
        ({"backend": Backend.COMPOSITE, "db_dir": Path("/f"), "height": 1, "memiavl_dir": Path("/m"),
          "normalization": Normalization.SEMANTIC}, "normalization"),
    ],
)  # fmt: skip
def test_composite_requests_take_exactly_two_dirs_and_no_decoder(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        DigestRequest(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="inspecting a composite view is not supported"):
        InspectRequest(Backend.COMPOSITE, Path("/f"), 1, "storage", shard_next_bytes=1)

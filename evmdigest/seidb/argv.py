"""The one argv builder for every seidb command this project runs: digest, inspect, find-hash, --help.

Argv lists only, never a shell string. The shapes follow the real commands recorded at sei-chain
73f917b (`seidb-reports/real-73f917b/*.cmd`), e.g.
    seidb evm-logical-digest --backend memiavl -d memiavl --height H --memiavl-normalization semantic
    ... --inspect-bucket storage --key-offset 5 --shard-next-bytes 1
    ... --inspect-bucket storage --key-offset 5 --key-prefix 3a --list
    ... --find-hash <64 hex>
    seidb evm-logical-digest --backend composite --flatkv-dir F --memiavl-dir M --height H
(`--db-dir` is `-d`'s long form). A request validates itself on construction, naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from evmdigest.models import BUCKETS, HEX64, Backend, Normalization, OpenMode, endpoint_name

COMMAND = "evm-logical-digest"


def scan_label(backend: Backend, normalization: Normalization | None = None) -> str:
    """How a scan is named in logs, artifacts and progress: `flatkv`, `memiavl/semantic`, `composite`."""
    return endpoint_name(backend, normalization)


def _check_target(backend: Backend, height: int, normalization: Normalization | None, memiavl_only: bool) -> None:
    if height < 0:
        raise ValueError(f"height: must be >= 0 (0 means current), got {height}")
    if backend is Backend.FLATKV and memiavl_only:
        raise ValueError("normalization: only memiavl scans take one; drop it for flatkv")


def _target_argv(
    backend: Backend, db_dir: Path, height: int, normalization: Normalization | None, open_mode: OpenMode | None
) -> list[str]:
    argv = [COMMAND, "--backend", backend.value, "--db-dir", str(db_dir), "--height", str(height)]
    if normalization is not None:
        argv += ["--memiavl-normalization", normalization.value]
    if open_mode is not None:
        argv += ["--memiavl-open-mode", open_mode.value]
    return argv


@dataclass(frozen=True)
class DigestRequest:
    """One digest report: `seidb evm-logical-digest --backend B --db-dir D --height H [...]`.

    A composite scan (`DigestRequest.composite`) reads a node in the middle of its migration: `db_dir` is
    its FlatKV dir (also `flatkv_dir`) and `memiavl_dir` its memIAVL root; seidb decodes memIAVL with its
    own semantic decoder there, so it takes no normalization, only the memIAVL open mode.
    """

    backend: Backend
    db_dir: Path
    height: int
    normalization: Normalization | None = None
    open_mode: OpenMode = OpenMode.SNAPSHOT
    memiavl_dir: Path | None = None

    @classmethod
    def composite(
        cls, flatkv_dir: Path, memiavl_dir: Path, height: int, open_mode: OpenMode = OpenMode.SNAPSHOT
    ) -> DigestRequest:
        return cls(Backend.COMPOSITE, flatkv_dir, height, open_mode=open_mode, memiavl_dir=memiavl_dir)

    def __post_init__(self) -> None:
        composite = self.backend is Backend.COMPOSITE
        if self.backend is Backend.MEMIAVL and self.normalization is None:
            raise ValueError("normalization: a memiavl scan needs one (semantic or translator)")
        if composite and self.normalization is not None:
            raise ValueError("normalization: a composite scan decodes memIAVL its own way; drop it")
        if composite != (self.memiavl_dir is not None):
            need = "a composite scan needs" if composite else "only composite scans take"
            raise ValueError(f"memiavl_dir: {need} one")
        _check_target(self.backend, self.height, self.normalization, self.normalization is not None)

    @property
    def label(self) -> str:
        return scan_label(self.backend, self.normalization)

    @property
    def flatkv_dir(self) -> Path | None:
        """The FlatKV dir this scan reads (and seidb clones into), if any."""
        return self.db_dir if self.backend in (Backend.FLATKV, Backend.COMPOSITE) else None

    def args(self) -> list[str]:
        if self.memiavl_dir is not None:
            return [
                COMMAND, "--backend", self.backend.value, "--flatkv-dir", str(self.db_dir),
                "--memiavl-dir", str(self.memiavl_dir), "--height", str(self.height),
                "--memiavl-open-mode", self.open_mode.value,
            ]  # fmt: skip
        memiavl = self.backend is Backend.MEMIAVL
        return _target_argv(
            self.backend, self.db_dir, self.height, self.normalization, self.open_mode if memiavl else None
        )


@dataclass(frozen=True)
class InspectRequest:
    """One bucket's keys, sharded (`shard_next_bytes`) or listed (`list_pairs`), instead of the digest.

    `key_offset` skips that many bytes of the physical key (5 = `evm/` + the kind byte, so shards split
    by address); `key_prefix` (hex) filters what follows. memIAVL's `normalization` and `open_mode`
    default to seidb's own (semantic, snapshot) when None, and are then left off the command line.
    """

    backend: Backend
    db_dir: Path
    height: int
    bucket: str
    key_offset: int = 0
    key_prefix: str = ""
    shard_next_bytes: int | None = None
    list_pairs: bool = False
    list_limit: int | None = None
    details: bool = False
    normalization: Normalization | None = None
    open_mode: OpenMode | None = None

    def __post_init__(self) -> None:
        memiavl_only = self.normalization is not None or self.open_mode is not None
        if self.backend is Backend.COMPOSITE:
            raise ValueError("backend: inspecting a composite view is not supported; inspect flatkv or memiavl")
        _check_target(self.backend, self.height, self.normalization, memiavl_only)
        if self.bucket not in BUCKETS:
            raise ValueError(f"bucket: {self.bucket!r} is not one of {', '.join(BUCKETS)}")
        if self.key_offset < 0:
            raise ValueError(f"key_offset: must be >= 0, got {self.key_offset}")
        try:
            bytes.fromhex(self.key_prefix)
        except ValueError:
            raise ValueError(f"key_prefix: {self.key_prefix!r} is not whole bytes of hex, e.g. 3a") from None
        if (self.shard_next_bytes is None) == (not self.list_pairs):
            raise ValueError("shard_next_bytes: give it (>= 1) to shard, or set list_pairs to list; exactly one")
        if self.shard_next_bytes is not None and self.shard_next_bytes < 1:
            raise ValueError(f"shard_next_bytes: must be >= 1, got {self.shard_next_bytes}")
        if not self.list_pairs and (self.list_limit is not None or self.details):
            raise ValueError("list_limit: list_limit and details apply to list_pairs only")

    @property
    def label(self) -> str:
        side = self.backend.value if self.normalization is None else f"memiavl/{self.normalization.value}"
        return f"{side} inspect {self.bucket}"

    def args(self) -> list[str]:
        argv = _target_argv(self.backend, self.db_dir, self.height, self.normalization, self.open_mode)
        argv += ["--inspect-bucket", self.bucket, "--key-offset", str(self.key_offset)]
        if self.key_prefix:
            argv += ["--key-prefix", self.key_prefix]
        if self.shard_next_bytes is not None:
            argv += ["--shard-next-bytes", str(self.shard_next_bytes)]
        if self.list_pairs:
            argv.append("--list")
        if self.list_limit is not None:
            argv += ["--list-limit", str(self.list_limit)]
        if self.details:
            argv.append("--details")
        return argv


@dataclass(frozen=True)
class FindHashRequest:
    """A digest scan that also prints `FOUND-HASH` for every entry whose hash is `entry_hash` (64 hex)."""

    scan: DigestRequest
    entry_hash: str

    def __post_init__(self) -> None:
        if not HEX64.match(self.entry_hash):
            raise ValueError(f"entry_hash: {self.entry_hash!r} is not 64 hex characters (a 32-byte entry hash)")

    @property
    def label(self) -> str:
        return f"{self.scan.label} find-hash"

    def args(self) -> list[str]:
        return [*self.scan.args(), "--find-hash", self.entry_hash.upper()]


SeidbRequest = DigestRequest | InspectRequest | FindHashRequest


def build_argv(binary: str, request: SeidbRequest, *, json_output: bool) -> list[str]:
    """The full command line of `request`; `--json` only for builds that have it (SeidbRunner detects)."""
    return [binary, *request.args(), *(["--json"] if json_output else [])]


def help_argv(binary: str) -> list[str]:
    """`seidb evm-logical-digest --help`: how the runner learns which flags a build has."""
    return [binary, COMMAND, "--help"]

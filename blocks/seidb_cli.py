"""SeidbCli block: which seidb binary to run, how long a scan may take, and extra environment."""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field

from evmdigest.params import MAX_SCAN_TIMEOUT
from evmdigest.seidb import SeidbRunner
from evmdigest.seidb.preflight import DEFAULT_MIN_FREE_MB
from evmdigest.seidb.procs import DEFAULT_GRACE_S


class SeidbCli(Block):
    """The seidb binary that scans a node's stores (`seidb evm-logical-digest`)."""

    _block_type_name = "Seidb CLI"
    _block_type_slug = "seidb-cli"
    _description = "Path, scan timeout and environment of the seidb binary used by the evm-logical-digest gate."

    path: str = Field(default="seidb", description="Absolute path of seidb, or a name on the worker's PATH.")
    timeout: float = Field(
        default=3600.0,
        gt=0,
        le=MAX_SCAN_TIMEOUT,
        allow_inf_nan=False,
        description=f"Seconds one scan may run before it is killed (up to {MAX_SCAN_TIMEOUT:g}).",
    )
    extra_env: dict[str, str] = Field(
        default_factory=dict, description="Extra environment for seidb, e.g. SEI_LOG_OUTPUT=stderr."
    )

    grace_period: float = Field(
        default=DEFAULT_GRACE_S,
        ge=0,
        le=600,
        description="Seconds a stopped scan (timeout, cancel, Ctrl-C) gets after SIGTERM before SIGKILL.",
    )
    min_free_mb: int = Field(
        default=DEFAULT_MIN_FREE_MB,
        ge=0,
        description="Free MiB the FlatKV dir's filesystem must have before a scan (seidb clones FlatKV there).",
    )

    def runner(self, *, timeout: float | None = None, run_tag: str | None = None) -> SeidbRunner:
        return SeidbRunner(
            self.path, timeout=timeout or self.timeout, env=self.extra_env, run_tag=run_tag, grace=self.grace_period
        )

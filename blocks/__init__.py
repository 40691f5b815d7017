"""Prefect blocks: configuration and client factories only (`prefect block register -m blocks`)."""

from blocks.digest_fleet import DigestFleet
from blocks.digest_sink import DigestSink
from blocks.seidb_cli import SeidbCli

__all__ = ["DigestFleet", "DigestSink", "SeidbCli"]

"""argparse <-> typed request glue shared by every command module (cli.py, ledger/localize commands)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def flags_of(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Request field (= argparse dest) -> the flag that sets it, so errors name what the user typed."""
    return {a.dest: max(a.option_strings, key=len) for a in parser._actions if a.option_strings}


def given(args: argparse.Namespace, fields: Sequence[str]) -> dict[str, object]:
    # Only what was given: the request's own defaults are the one place defaults live.
    return {name: getattr(args, name) for name in fields if getattr(args, name, None) is not None}

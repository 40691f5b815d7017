"""pflag-style parsing of `evm-logical-digest`'s flags, with cobra's error texts.

`--name value`, `--name=value`, `-d value`, `-dvalue`, `-d=value`; bools take no value (or `=true`);
ints parse like strconv.ParseInt(s, 0, 64); `--` ends the flags; positional arguments are accepted
and ignored (cobra's legacyArgs for a command without subcommands).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from evmdigest.sim.goutil import parse_int
from evmdigest.sim.store import SimError

STRING_FLAGS = {
    "backend": "",
    "db-dir": "",
    "flatkv-dir": "",
    "memiavl-dir": "",
    "memiavl-open-mode": "snapshot",
    "memiavl-normalization": "semantic",
    "inspect-bucket": "",
    "key-prefix": "",
    "find-hash": "",
}
INT_FLAGS = {"height": 0, "key-offset": 0, "shard-next-bytes": 0, "list-limit": 1000}
BOOL_FLAGS = {"list", "details", "help", "json"}
SHORTHANDS = {"d": "db-dir", "h": "help"}


@dataclass
class Flags:
    strings: dict[str, str] = field(default_factory=lambda: dict(STRING_FLAGS))
    ints: dict[str, int] = field(default_factory=lambda: dict(INT_FLAGS))
    bools: dict[str, bool] = field(default_factory=dict)

    def string(self, name: str) -> str:
        return self.strings[name]

    def int(self, name: str) -> int:
        return self.ints[name]

    def bool(self, name: str) -> bool:
        return self.bools.get(name, False)


def _set(flags: Flags, name: str, value: str | None, shown: str, take: list[str]) -> None:
    """Assign one flag; `take` supplies the next argument when the value is not inline."""
    if name in BOOL_FLAGS:
        if value is None:
            flags.bools[name] = True
            return
        if value.lower() not in ("1", "0", "t", "f", "true", "false"):
            raise SimError(
                f'invalid argument "{value}" for "{shown}" flag: strconv.ParseBool: parsing "{value}": invalid syntax'
            )
        flags.bools[name] = value.lower() in ("1", "t", "true")
        return
    if value is None:
        if not take:
            raise SimError(
                f"flag needs an argument: {shown if shown.startswith('--') else repr(shown[-1]) + ' in ' + shown}"
            )
        value = take.pop(0)
    if name in INT_FLAGS:
        try:
            flags.ints[name] = parse_int(value)
        except ValueError as exc:
            raise SimError(f'invalid argument "{value}" for "{shown}" flag: {exc}') from None
    else:
        flags.strings[name] = value


def parse_flags(argv: list[str], *, json_flag: bool) -> Flags:
    flags, rest = Flags(), list(argv)
    known = set(STRING_FLAGS) | set(INT_FLAGS) | (BOOL_FLAGS - ({"json"} if not json_flag else set()))
    while rest:
        arg = rest.pop(0)
        if arg == "--":
            break
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            if name not in known:
                raise SimError(f"unknown flag: --{name}")
            _set(flags, name, value if eq else None, f"--{name}", rest)
        elif arg.startswith("-") and len(arg) > 1:
            letter, tail = arg[1], arg[2:]
            if letter not in SHORTHANDS:
                raise SimError(f"unknown shorthand flag: '{letter}' in {arg}")
            inline = tail[1:] if tail.startswith("=") else (tail or None)
            _set(flags, SHORTHANDS[letter], inline, f"-{letter}", rest)
    return flags

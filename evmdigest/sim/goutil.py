"""Go-flavoured helpers, so the simulator's texts read like the real (Go) seidb's: paths as
`filepath.Join` prints them, OS errors as Go's `*PathError`, integers as pflag parses them."""

from __future__ import annotations

import errno
import os
import posixpath
import random

# Go's syscall error strings (lowercase, unlike Python's os.strerror)
_ERRNO_TEXT = {
    errno.ENOENT: "no such file or directory",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.ENOTDIR: "not a directory",
    errno.EISDIR: "is a directory",
    errno.EEXIST: "file exists",
    errno.EIO: "input/output error",
    errno.EXDEV: "invalid cross-device link",
}


def errno_text(exc: OSError) -> str:
    if exc.errno in _ERRNO_TEXT:
        return _ERRNO_TEXT[exc.errno]
    text = os.strerror(exc.errno) if exc.errno else str(exc)
    return text[:1].lower() + text[1:]


def path_error(op: str, path: str, exc: OSError) -> str:
    """Go's `*os.PathError` text: `<op> <path>: <errno text>`."""
    return f"{op} {path}: {errno_text(exc)}"


def join(*parts: str) -> str:
    """`filepath.Join`: join the non-empty parts, then Clean (no trailing slash, `.`/`..` resolved)."""
    joined = "/".join(part for part in parts if part)
    if not joined:
        return ""
    cleaned = posixpath.normpath(joined)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def random_suffix() -> str:
    """`os.MkdirTemp`'s name part: a random uint32 in decimal."""
    return str(random.SystemRandom().getrandbits(32))


def parse_int(text: str) -> int:
    """`strconv.ParseInt(s, 0, 64)` as pflag's int flags use it: 0x/0o/0b prefixes, a leading 0 is octal."""
    body = text[1:] if text[:1] in "+-" else text
    sign = -1 if text[:1] == "-" else 1
    base, digits = 10, body
    if len(body) > 1 and body[0] == "0":
        prefix = body[1].lower()
        base, digits = {"x": (16, body[2:]), "o": (8, body[2:]), "b": (2, body[2:])}.get(prefix, (8, body[1:]))
    if base != 10 and digits.startswith("_"):
        digits = digits[1:]
    if not digits or digits.startswith("_") or digits.endswith("_") or "__" in digits or (base == 10 and "_" in digits):
        raise ValueError(f'strconv.ParseInt: parsing "{text}": invalid syntax')
    try:
        value = sign * int(digits.replace("_", ""), base)
    except ValueError:
        raise ValueError(f'strconv.ParseInt: parsing "{text}": invalid syntax') from None
    if not -(1 << 63) <= value < (1 << 63):
        raise ValueError(f'strconv.ParseInt: parsing "{text}": value out of range')
    return value


def duration(seconds: float) -> str:
    """`time.Duration.String()` for durations under a minute, e.g. `77.197314ms`."""
    nanos = max(0, round(seconds * 1e9))
    for unit, scale in (("s", 10**9), ("ms", 10**6), ("µs", 10**3)):
        if nanos >= scale:
            whole, frac = divmod(nanos, scale)
            digits = len(str(scale)) - 1
            tail = f"{frac:0{digits}d}".rstrip("0")
            return f"{whole}.{tail}{unit}" if tail else f"{whole}{unit}"
    return f"{nanos}ns"


def hex_decode(text: str) -> bytes:
    """`hex.DecodeString`, with Go's error texts (an invalid byte is reported before an odd length)."""
    for char in text:
        if char not in "0123456789abcdefABCDEF":
            raise ValueError(f"encoding/hex: invalid byte: U+{ord(char):04X} {char!r}".replace('"', "'"))
    if len(text) % 2:
        raise ValueError("encoding/hex: odd length hex string")
    return bytes.fromhex(text)

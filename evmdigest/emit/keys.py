"""Object keys: what a caller may name an object, checked before any store is touched.

A key is relative to the sink's prefix and may not escape it, collide with our temp or seal names, or
exceed S3's 1024-byte limit once the prefix is added. The limit is applied on every sink, so a
layout that works in a folder also works in a bucket; an object's own key must leave room for its seal.
"""

from __future__ import annotations

from evmdigest.emit.seal import SEAL_SUFFIX

TMP_MARK = ".evmd-tmp-"
MAX_KEY_BYTES = 1024  # S3's limit, applied to the full key (prefix included)
_FIX = "use a relative key such as 'segments/000123/verdict.json'"


def validate_key(key: object, *, allow_seal: bool = False) -> str:
    """Reject keys that could escape the prefix, collide with our own names, or break a store."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"key {key!r} is empty or not a string; {_FIX}")
    if key.startswith("/") or key.endswith("/"):
        raise ValueError(f"key {key!r} must not start or end with '/'; {_FIX}")
    if "\\" in key or any(ord(c) < 32 or ord(c) == 127 for c in key):
        raise ValueError(f"key {key!r} contains a backslash or control character; {_FIX}")
    parts = key.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"key {key!r} has an empty, '.' or '..' path segment; {_FIX}")
    if TMP_MARK in parts[-1]:
        raise ValueError(f"key {key!r} contains {TMP_MARK!r}, reserved for temp files; {_FIX}")
    if not allow_seal and key.endswith(SEAL_SUFFIX):
        raise ValueError(f"key {key!r} ends with {SEAL_SUFFIX!r}, reserved for seals; {_FIX}")
    return key


def check_key_length(key: str, full_key: str, *, sealed: bool) -> None:
    """Refuse a key whose full form (with its seal's suffix, for sealed objects) is over MAX_KEY_BYTES."""
    longest = full_key + SEAL_SUFFIX if sealed else full_key
    size = len(longest.encode())
    if size > MAX_KEY_BYTES:
        what = f"its seal key {longest!r}" if sealed else f"the full key {longest!r}"
        raise ValueError(
            f"key {key!r}: {what} is {size} bytes, over S3's limit of {MAX_KEY_BYTES} bytes (applied on every "
            "sink); shorten the key or the sink's prefix"
        )

"""Object keys: what a caller may name an object, checked before any store is touched.

A key is relative to the sink's prefix and may not escape it, collide with our temp, seal or control
names, or exceed S3's 1024-byte limit once the prefix is added. The limit is applied on every sink, so
a layout that works in a folder also works in a bucket; an object's own key must leave room for its
companions (seal, intent).

Control objects are plain JSON the sink keeps beside records and never lists as records:
- `<key>.intent-<sha256>.json`: written before `<key>` is committed; the only hashes a missing seal may
  be completed with (see sink.py).
- `[<dir>/]claims/claim-<name>.json`: a run's write-once claim on a height (verdict/claim.py).
"""

from __future__ import annotations

import re

from evmdigest.emit.seal import SEAL_SUFFIX

TMP_MARK = ".evmd-tmp-"
# The folder sink's temp names: "." + final name + TMP_MARK + uuid4 hex (folder.py).
TMP_NAME = re.compile(rf"^\..+{re.escape(TMP_MARK)}[0-9a-f]{{32}}$")
INTENT_MARK = ".intent-"
INTENT_NAME = re.compile(rf"{re.escape(INTENT_MARK)}([0-9a-f]{{64}})\.json$")
CLAIMS_DIR = "claims"
CLAIM_NAME = re.compile(r"^claim-[^/]+\.json$")
MAX_KEY_BYTES = 1024  # S3's limit, applied to the full key (prefix included)
_COMPANION_BYTES = len(INTENT_MARK) + 64 + len(".json")  # the longest companion suffix (the intent's)
_FIX = "use a relative key such as 'segments/000123/verdict.json'"


def intent_key(key: str, uncompressed_sha256: str) -> str:
    return f"{key}{INTENT_MARK}{uncompressed_sha256}.json"


def intent_prefix(key: str) -> str:
    return key + INTENT_MARK


def is_claim_key(key: str) -> bool:
    parts = key.split("/")
    return len(parts) >= 2 and parts[-2] == CLAIMS_DIR and bool(CLAIM_NAME.match(parts[-1]))


def is_control_key(key: str) -> bool:
    """An intent or a claim: plain JSON bookkeeping, never a record."""
    return bool(INTENT_NAME.search(key.rsplit("/", 1)[-1])) or is_claim_key(key)


def validate_key(key: object, *, allow_seal: bool = False, allow_control: bool = False) -> str:
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
    if not allow_control and is_control_key(key):
        raise ValueError(f"key {key!r} is reserved for intents and claims (control objects); {_FIX}")
    return key


def check_key_length(key: str, full_key: str, *, sealed: bool) -> None:
    """Refuse a key whose full form (with its companions' suffixes, for sealed objects) is over MAX_KEY_BYTES."""
    longest = full_key + "x" * _COMPANION_BYTES if sealed else full_key
    size = len(longest.encode())
    if size > MAX_KEY_BYTES:
        what = (
            f"with its intent suffix ({INTENT_MARK}<sha256>.json) the full key {full_key!r}"
            if sealed
            else (f"the full key {full_key!r}")
        )
        raise ValueError(
            f"key {key!r}: {what} is {size} bytes, over S3's limit of {MAX_KEY_BYTES} bytes (applied on every "
            "sink); shorten the key or the sink's prefix"
        )

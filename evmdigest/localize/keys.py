"""What a diverging key is: its physical key decoded, and for account rows which fields differ.

Physical keys as seidb prints them: `evm/` + a one-byte x/evm kind + the rest (account, code, code
size, code hash: a 20-byte address; storage: address + 32-byte slot). FlatKV's migration markers
(`migration/migration-version`, `migration/migration-boundary`) are misc rows seidb's inspect lists
but the digest XORs back out, so they are never a divergence.
"""

from __future__ import annotations

from evmdigest.digest import MIGRATION_MARKER_KEYS
from evmdigest.localize.model import AccountDiff, Change, DivergentKey

EVM_PREFIX = b"evm/"
KEY_OFFSET = len(EVM_PREFIX) + 1
"""Shards split physical keys after `evm/` + the kind byte: by address for account, code and storage."""
MARKER_KEYS: frozenset[str] = frozenset(marker.encode().hex().upper() for marker in MIGRATION_MARKER_KEYS)
KIND_NAMES: dict[int, str] = {
    0x01: "evm_to_sei_address",
    0x02: "sei_to_evm_address",
    0x03: "storage",
    0x07: "code",
    0x08: "code_hash",
    0x09: "code_size",
    0x0A: "account",
}
_ADDRESS_KINDS = frozenset((0x01, 0x03, 0x07, 0x08, 0x09, 0x0A))
ACCOUNT_FIELDS: tuple[str, ...] = ("balance", "nonce", "code_hash")


def decode_account(logical_hex: str) -> dict[str, str | int] | None:
    """balance(32) || nonce(8 BE) || code_hash(32) -> fields; a 40-byte value has no code hash (zero).

    None when the value is not an account value at all (the comparison then shows only the hex)."""
    value = bytes.fromhex(logical_hex)
    if len(value) not in (40, 72):
        return None
    code_hash = value[40:] or bytes(32)
    return {
        "balance": str(int.from_bytes(value[:32], "big")),  # a string: 256-bit integers overflow JSON readers
        "nonce": int.from_bytes(value[32:40], "big"),
        "code_hash": code_hash.hex().upper(),
    }


def account_diff(flatkv: str, memiavl: str) -> dict[str, AccountDiff] | None:
    """The account fields whose values differ, each with both sides; None if either side is not an account."""
    left, right = decode_account(flatkv), decode_account(memiavl)
    if left is None or right is None:
        return None
    return {
        field: AccountDiff(flatkv=left[field], memiavl=right[field])
        for field in ACCOUNT_FIELDS
        if left[field] != right[field]
    }


def divergent_key(bucket: str, key_hex: str, flatkv: str | None, memiavl: str | None) -> DivergentKey:
    """One diverging key, decoded; `flatkv` / `memiavl` are the logical values (None where absent)."""
    key = bytes.fromhex(key_hex)
    kind = address = slot = None
    if key.startswith(EVM_PREFIX) and len(key) > len(EVM_PREFIX):
        kind = key[len(EVM_PREFIX)]
        rest = key[KEY_OFFSET:]
        if kind in _ADDRESS_KINDS and len(rest) >= 20:
            address = "0x" + rest[:20].hex()
        if kind == 0x03 and len(rest) == 52:
            slot = "0x" + rest[20:].hex()
    if flatkv is None:
        change = Change.MISSING_IN_FLATKV
    elif memiavl is None:
        change = Change.MISSING_IN_MEMIAVL
    else:
        change = Change.CHANGED
    fields = account_diff(flatkv, memiavl) if bucket == "account" and flatkv and memiavl else None
    return DivergentKey(
        bucket=bucket,
        key=key_hex.upper(),
        kind=None if kind is None else f"{kind:02x}",
        kind_name=None if kind is None else KIND_NAMES.get(kind),
        address=address,
        slot=slot,
        change=change,
        flatkv=flatkv,
        memiavl=memiavl,
        account_diff=fields,
    )

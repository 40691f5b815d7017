"""The simulator's on-disk row format, `rows.bin`, shared by the fixture writer and the scanner.

A record is `bucket(1) || be32 len(key) || key || be32 len(value) || value`: the FlatKV physical key
and the LOGICAL value. Everything after the bucket byte is exactly the entry-hash input of the contract.
A FlatKV store's rows are sorted by physical key (pebble's iteration order); memIAVL stores hold raw
leaves instead (`evmdigest.sim.leaves`).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from evmdigest.models import BUCKETS

BUCKET_CODE: dict[str, int] = {name: code for code, name in enumerate(BUCKETS)}
"""rows.bin bucket byte: 0 account, 1 code, 2 storage, 3 misc (contract bucket order)."""

EVM_PREFIX = b"evm/"
KEY_TYPE: dict[str, int] = {"account": 0x0A, "code": 0x07, "storage": 0x03, "misc": 0x09}
ZERO32 = bytes(32)
ACCOUNT_VALUE_LEN = 72  # balance(32, zeroed by the semantic decoder) || nonce(8 BE) || code_hash(32)

_U32 = struct.Struct(">I")
_READ_CHUNK = 1 << 20


def evm_key(bucket: str, address: bytes, slot: bytes = b"") -> bytes:
    return EVM_PREFIX + bytes((KEY_TYPE[bucket],)) + address + slot


def account_value(nonce: int, code_hash: bytes) -> bytes:
    return ZERO32 + nonce.to_bytes(8, "big") + code_hash


def flatkv_value(bucket: int, logical: bytes, height: int) -> bytes:
    """The value as FlatKV stores it (vtype v0: version byte, be64 block height, payload); an account
    without code takes the compact form (no code hash)."""
    if bucket == 0 and logical[40:] == ZERO32:
        logical = logical[:40]
    return b"\x00" + height.to_bytes(8, "big") + logical


def block_height(key: bytes, state_height: int, row_heights: Mapping[str, int]) -> int:
    """A row's block height (FlatKV) / leaf version (memIAVL): the store's `row_heights` if it names the
    key, else spread over the last three blocks before the state height, as the real fixture was written."""
    explicit = row_heights.get(key.hex().upper())
    return explicit if explicit is not None else max(0, state_height - key[-1] % 3)


def write_rows(path: Path, rows: Iterable[tuple[int, bytes, bytes]]) -> int:
    count = 0
    with path.open("wb", buffering=_READ_CHUNK) as out:
        for row in rows:
            out.write(pack_row(*row))
            count += 1
    return count


def pack_row(bucket: int, key: bytes, value: bytes) -> bytes:
    return bytes((bucket,)) + _U32.pack(len(key)) + key + _U32.pack(len(value)) + value


def iter_rows(path: Path) -> Iterator[tuple[int, bytes, bytes]]:
    """Stream (bucket code, key, value) from a rows.bin in 1 MiB reads; memory stays bounded."""
    unpack = _U32.unpack_from
    with path.open("rb") as handle:
        buf = b""
        pos = 0
        while chunk := handle.read(_READ_CHUNK):
            buf = buf[pos:] + chunk
            pos = 0
            size = len(buf)
            while pos + 5 <= size:
                key_end = pos + 5 + unpack(buf, pos + 1)[0]
                if key_end + 4 > size:
                    break
                end = key_end + 4 + unpack(buf, key_end)[0]
                if end > size:
                    break
                bucket = buf[pos]
                if bucket > 3:
                    raise ValueError(f"{path}: corrupt record (bucket byte {bucket}) at a chunk offset {pos}")
                yield bucket, buf[pos + 5 : key_end], buf[key_end + 4 : end]
                pos = end
        if pos != len(buf):
            raise ValueError(f"{path}: truncated final record ({len(buf) - pos} trailing bytes)")

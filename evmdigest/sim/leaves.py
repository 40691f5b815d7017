"""memIAVL stores as raw EVM leaves, in the real snapshot layout: `snapshot-<H>/evm/{kvs,metadata}`.

`kvs` is what seidb scans in snapshot mode: `keyLen u32 LE | key | valLen u32 LE | value`, in raw key
order. An account is several leaves (`0x0a`+addr nonce, `0x08`+addr code hash when it has code), so a
store has more leaves than logical rows (306 for the real fixture's 300 rows). The semantic decoder
buffers account fragments and emits the merged rows at finalize, in Go map order (random): that is
why memIAVL lists accounts in another order than FlatKV.

Balances are not memIAVL EVM leaves at sei-chain 73f917b (its semantic decoder leaves them zero). Later
builds, whose golden reports carry balances on the memIAVL side, are modelled with a sim-only leaf
`0xf0`+addr, written only for a non-zero balance (generated fixtures have none).
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

from evmdigest.models import ZeroCensus
from evmdigest.sim.goutil import path_error
from evmdigest.sim.rows import EVM_PREFIX, ZERO32, flatkv_value
from evmdigest.sim.store import SimError

STORAGE, CODE, CODEHASH, NONCE, BALANCE = 0x03, 0x07, 0x08, 0x0A, 0xF0
SNAPSHOT_MAGIC = 1280721225  # b"IAVL" little endian, as memiavl writes it
_LE = struct.Struct("<I")
_META = struct.Struct("<III")
_READ_CHUNK = 1 << 20

Leaf = tuple[bytes, bytes]
Entry = tuple[int, bytes, bytes, bytes]  # bucket code, physical key, logical value, raw value (FOUND-HASH)


def write_metadata(evm_dir: Path, version: int) -> None:
    (evm_dir / "metadata").write_bytes(_META.pack(SNAPSHOT_MAGIC, 0, version))


def read_metadata_version(evm_dir: str) -> int:
    """The snapshot's version, or seidb's error (`read metadata: open <dir>/metadata: ...`)."""
    path = f"{evm_dir}/metadata"
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SimError(f"read metadata: {path_error('open', path, exc)}") from None
    if len(data) < 12:
        raise SimError(f"metadata too short: {len(data)} bytes")
    return int(_META.unpack_from(data)[2])


def write_kvs(path: Path, leaves: Iterable[Leaf]) -> int:
    count = 0
    pack = _LE.pack
    with path.open("wb", buffering=_READ_CHUNK) as out:
        for key, value in leaves:
            out.write(pack(len(key)) + key + pack(len(value)) + value)
            count += 1
    return count


def iter_kvs(path: str) -> Iterator[Leaf]:
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below; opening is where seidb's error comes from
    except OSError as exc:
        raise SimError(f"open kvs {path}: {path_error('open', path, exc).split(': ', 1)[1]}") from None
    unpack = _LE.unpack_from
    with handle:
        buf, pos = b"", 0
        while chunk := handle.read(_READ_CHUNK):
            buf, pos = buf[pos:] + chunk, 0
            size = len(buf)
            while pos + 4 <= size:
                key_end = pos + 4 + unpack(buf, pos)[0]
                if key_end + 4 > size:
                    break
                end = key_end + 4 + unpack(buf, key_end)[0]
                if end > size:
                    break
                yield buf[pos + 4 : key_end], buf[key_end + 4 : end]
                pos = end
        if pos != len(buf):
            raise SimError("read key: unexpected EOF")


def row_leaves(bucket: int, key: bytes, logical: bytes) -> list[Leaf]:
    """The memIAVL leaves of one logical row (FlatKV physical key `evm/`+kind+...)."""
    raw = key[len(EVM_PREFIX) :]
    if bucket != 0:
        return [(raw, logical)]
    address = raw[1:]
    leaves = [(bytes((NONCE,)) + address, logical[32:40])]
    if logical[40:] != ZERO32:
        leaves.append((bytes((CODEHASH,)) + address, logical[40:]))
    if logical[:32] != ZERO32:
        leaves.append((bytes((BALANCE,)) + address, logical[:32]))
    return leaves


def sorted_leaves(rows: Iterable[tuple[int, bytes, bytes]]) -> list[Leaf]:
    return sorted(leaf for row in rows for leaf in row_leaves(*row))


class Decoder:
    """Raw leaves -> logical entries, like seidb's semantic decoder (or, with `translator`, through
    FlatKV's import translator: same rows, raw values serialized as FlatKV stores them)."""

    def __init__(self, *, translator: bool = False, accounts: bool = True, caller: str = "digest") -> None:
        self.translator, self.keep_accounts, self.caller = translator, accounts, caller
        self.accounts: dict[bytes, list[bytes | int | bool]] = {}  # addr -> [balance, nonce, code hash, has row]
        self.zero_codehash_rows = self.empty_code_values = self.zero_storage_slots = 0
        self.census: ZeroCensus | None = None

    def _account(self, address: bytes) -> list[bytes | int | bool]:
        found = self.accounts.get(address)
        if found is None:
            found = self.accounts[address] = [ZERO32, 0, ZERO32, False]
        return found

    def _fail(self, what: str, key: bytes, length: int, want: int) -> SimError:
        return SimError(f"semantic memiavl {self.caller}: {what} {key.hex().upper()} has length {length}, want {want}")

    def _raw(self, bucket: int, logical: bytes, raw: bytes) -> bytes:
        return flatkv_value(bucket, logical, 0) if self.translator else raw

    def leaf(self, key: bytes, value: bytes) -> Entry | None:
        if not key:
            raise SimError(f"semantic memiavl {self.caller}: empty EVM key")
        kind, size = key[0], len(key)
        if kind in (NONCE, CODEHASH, BALANCE) and size == 21:
            want = 8 if kind == NONCE else 32
            if len(value) != want:
                raise self._fail("nonce" if kind == NONCE else "codehash", key, len(value), want)
            if not self.keep_accounts:
                return None
            account = self._account(key[1:])
            if kind == NONCE:
                account[1] = int.from_bytes(value, "big")
            elif kind == CODEHASH:
                account[2], account[3] = value, True
                self.zero_codehash_rows += value == ZERO32
            else:
                account[0] = value
            return None
        if kind == CODE and size == 21:
            if not value:
                self.empty_code_values += 1
                return None
            return 1, EVM_PREFIX + key, value, self._raw(1, value, value)
        if kind == STORAGE and size == 53:
            if len(value) != 32:
                raise self._fail("storage", key, len(value), 32)
            if value == ZERO32:
                self.zero_storage_slots += 1
                return None
            return 2, EVM_PREFIX + key, value, self._raw(2, value, value)
        return 3, EVM_PREFIX + key, value, self._raw(3, value, value)

    def finalize(self) -> Iterator[Entry]:
        """Merged accounts in Go map order (random), zero accounts skipped; sets `census`."""
        items = list(self.accounts.items())
        random.shuffle(items)
        zero = with_zero_row = without_row = 0
        for address, (balance, nonce, code_hash, has_row) in items:
            assert isinstance(balance, bytes) and isinstance(nonce, int) and isinstance(code_hash, bytes)
            if nonce == 0 and balance == ZERO32 and code_hash == ZERO32:
                zero += 1
                continue
            with_zero_row += bool(has_row) and code_hash == ZERO32
            without_row += not has_row
            logical = balance + nonce.to_bytes(8, "big") + code_hash
            yield 0, EVM_PREFIX + bytes((NONCE,)) + address, logical, self._raw(0, logical, b"")
        self.census = ZeroCensus(
            zero_accounts=zero,
            zero_codehash_rows=self.zero_codehash_rows,
            empty_code_values=self.empty_code_values,
            zero_storage_slots=self.zero_storage_slots,
            live_accounts_with_zero_codehash_row=with_zero_row,
            live_accounts_without_codehash_row=without_row,
        )

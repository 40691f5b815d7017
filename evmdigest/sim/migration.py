"""sei-db's migration markers, as they sit in a FlatKV store's misc DB (sc/migration).

`migration/migration-boundary`: status byte (0 not started, 1 in progress, 2 complete); in progress
adds a 4-byte big-endian module-name length, the module name and the raw memIAVL key of the last
migrated leaf. `migration/migration-version`: 8 bytes big endian, written (and the boundary deleted)
when the migration completes. memIAVL never holds either.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from evmdigest.models import MigrationBoundary, MigrationStatus
from evmdigest.sim.store import SimError

BOUNDARY_KEY = b"migration/migration-boundary"
VERSION_KEY = b"migration/migration-version"
EVM_MODULE = "evm"
_STATUS = (MigrationStatus.NOT_STARTED, MigrationStatus.IN_PROGRESS, MigrationStatus.COMPLETE)


@dataclass(frozen=True)
class Boundary:
    status: int  # 0 not started, 1 in progress, 2 complete
    module: str = ""
    key: bytes = b""

    def encode(self) -> bytes:
        if self.status != 1:
            return bytes((self.status,))
        name = self.module.encode()
        return bytes((1,)) + len(name).to_bytes(4, "big") + name + self.key

    @classmethod
    def decode(cls, data: bytes) -> Boundary:
        """DeserializeMigrationBoundary, with its error texts."""
        if not data:
            raise SimError("empty migration boundary data")
        status = data[0]
        if status in (0, 2):
            if len(data) != 1:
                raise SimError(f"unexpected trailing data for status {status}: {len(data) - 1} extra bytes")
            return cls(status)
        if status != 1:
            raise SimError(f"invalid migration status: {status}")
        if len(data) < 5:
            raise SimError(f"in-progress data too short: need at least 5 bytes, got {len(data)}")
        name_len = int.from_bytes(data[1:5], "big")
        if len(data) < 5 + name_len:
            raise SimError(f"in-progress data too short for module name of length {name_len}: got {len(data)} bytes")
        return cls(1, data[5 : 5 + name_len].decode(errors="replace"), data[5 + name_len :])

    def is_migrated(self, module: str, key: bytes) -> bool:
        if self.status == 0:
            return False
        if self.status == 2:
            return True
        return key <= self.key if module == self.module else module <= self.module

    def model(self, version_known: bool, migration_version: int, memiavl_version: int) -> MigrationBoundary:
        in_progress = self.status == 1
        return MigrationBoundary(
            status=_STATUS[self.status],
            module=self.module if in_progress else None,
            key=self.key.hex() if in_progress else None,
            version_known=version_known,
            migration_version=migration_version,
            memiavl_version=memiavl_version,
        )


def read_state(rows: Iterable[tuple[int, bytes, bytes]]) -> tuple[Boundary, bool, int]:
    """seidb's readFlatKVMigrationState: (boundary, version_known, migration_version)."""
    found: dict[bytes, bytes] = {}
    for _, key, value in rows:
        if key in (BOUNDARY_KEY, VERSION_KEY):
            found[key] = value
    if VERSION_KEY in found:
        data = found[VERSION_KEY]
        if len(data) != 8:
            raise SimError(f"flatkv migration version length={len(data)}, want 8")
        return Boundary(2), True, int.from_bytes(data, "big")
    if BOUNDARY_KEY in found:
        return Boundary.decode(found[BOUNDARY_KEY]), False, 0
    return Boundary(0), False, 0

"""Folder sink (`file:///dir`): the default for local runs. Also this scheme's URL rules and registration.

Write-once without a lock: the object is streamed into a hidden temp file in the target directory,
fsynced, then hard-linked to its final name. `link` fails if the name exists, so two concurrent
writers cannot clobber each other (unlike `rename`); the temp name is then unlinked and the
directory fsynced so the new name survives a crash.
"""

from __future__ import annotations

import errno
import os
import stat
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import SplitResult, unquote, urlsplit

from evmdigest.emit.errors import SinkConflict, SinkError, SinkErrorKind, SinkNotFound
from evmdigest.emit.keys import TMP_MARK, TMP_NAME, validate_key
from evmdigest.emit.scheme import SinkOptions, SinkScheme
from evmdigest.emit.seal import StoreChecksum
from evmdigest.emit.sink import Sink
from evmdigest.emit.stream import READ_CHUNK, Encoding

STALE_TEMP_SECONDS = 3600.0  # a temp file this old belongs to a writer that was killed


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _ensure_dir(path: Path) -> None:
    """mkdir -p that fsyncs each parent it changes, so new directories survive a crash."""
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for d in reversed(missing):
        try:
            d.mkdir()
        except FileExistsError:
            continue  # a concurrent writer made it
        _fsync_dir(d.parent)


def _os_kind(exc: OSError) -> SinkErrorKind:
    if isinstance(exc, PermissionError):
        return SinkErrorKind.ACCESS_DENIED
    if isinstance(exc, FileNotFoundError):
        return SinkErrorKind.NOT_FOUND
    return SinkErrorKind.OTHER


class _FolderWriter:
    def __init__(self, sink: FolderSink, key: str) -> None:
        self._sink = sink
        self._key = key
        self._final = sink.path_for(key)
        _ensure_dir(self._final.parent)
        self._tmp = self._final.with_name(f".{self._final.name}{TMP_MARK}{uuid.uuid4().hex}")
        fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self._file = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        try:
            self._file.write(chunk)
        except OSError as exc:
            raise self._sink.os_error(exc, "writing the temp file", self._key) from exc

    def commit(self) -> StoreChecksum | None:
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.link(self._tmp, self._final)
        except FileExistsError:
            raise SinkConflict(
                "an object already exists at this key (another writer got there first); it was not overwritten",
                **self._sink.where(self._key),
            ) from None
        except OSError as exc:
            doing = "committing the object"
            if exc.errno in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                doing += " (the folder sink needs a filesystem with hard links)"
            raise self._sink.os_error(exc, doing, self._key) from exc
        finally:
            self._file.close()
            self._tmp.unlink(missing_ok=True)
        try:
            _fsync_dir(self._final.parent)
        except OSError as exc:
            raise self._sink.os_error(exc, "fsyncing the directory", self._key) from exc
        return None  # a plain file system keeps no checksum of its own

    def abort(self) -> str | None:
        self._file.close()
        try:
            self._tmp.unlink(missing_ok=True)
        except OSError as exc:
            return f"the temp file {self._tmp} could not be removed ({exc.strerror})"
        return None


class FolderSink(Sink):
    store = "folder"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bucket = str(root)
        self.region = None
        self.prefix = ""

    def path_for(self, key: str) -> Path:
        return self.root.joinpath(*key.split("/"))

    def uri_for(self, key: str) -> str:
        return self.path_for(key).as_uri()

    def describe(self) -> str:
        return f"folder {self.root.as_uri()}"

    def os_error(self, exc: OSError, doing: str, key: str | None) -> SinkError:
        kind = _os_kind(exc)
        what = f"{doing} failed: {exc.strerror or exc}"
        if exc.errno == errno.ENOSPC:
            what += " (the disk is full)"
        if kind is SinkErrorKind.NOT_FOUND:
            return SinkNotFound(what, **self.where(key))
        return SinkError(kind, what, **self.where(key))

    def _open_writer(self, key: str, encoding: Encoding) -> _FolderWriter:
        try:
            return _FolderWriter(self, key)
        except OSError as exc:
            raise self.os_error(exc, "creating the temp file", key) from exc

    def _exists(self, key: str) -> bool | None:
        return self.path_for(key).exists()

    def _delete(self, key: str) -> None:
        try:
            self.path_for(key).unlink(missing_ok=True)
        except OSError as exc:
            raise self.os_error(exc, "removing the object", key) from exc

    def _read_chunks(self, key: str) -> Iterator[bytes]:
        try:
            f = self.path_for(key).open("rb")
        except OSError as exc:
            if isinstance(exc, FileNotFoundError):
                what = "no object at this key"
                raise SinkNotFound(what, **self.where(key)) from exc
            raise self.os_error(exc, "opening the object", key) from exc
        return self._chunks(f, key)

    def _chunks(self, f: BinaryIO, key: str) -> Iterator[bytes]:
        try:
            while chunk := f.read(READ_CHUNK):
                yield chunk
        except OSError as exc:
            raise self.os_error(exc, "reading the object", key) from exc
        finally:
            f.close()

    def _list(self, prefix: str) -> Iterable[str]:
        if not self.root.is_dir():
            return []
        found = []
        for dirpath, _dirs, files in os.walk(self.root):
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            for name in files:
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if key.startswith(prefix):
                    found.append(key)
        return found

    def _store_checksum(self, key: str) -> StoreChecksum | None:
        return None

    def remove_stale_temps(self, older_than: float = STALE_TEMP_SECONDS) -> list[str]:
        """Remove temp files a killed writer left behind (ours by name, older than `older_than` s by mtime).

        Only names of the form `.<name>.evmd-tmp-<uuid4 hex>` are touched, never a record, seal,
        intent or claim; a live writer's temp file is younger (its mtime moves with every write).
        """
        if not self.root.is_dir():
            return []
        cutoff = time.time() - older_than
        removed = []
        for dirpath, _dirs, files in os.walk(self.root):
            for name in files:
                if not TMP_NAME.match(name):
                    continue
                path = Path(dirpath, name)
                try:
                    info = path.lstat()
                    if stat.S_ISREG(info.st_mode) and info.st_mtime < cutoff:
                        path.unlink()
                        removed.append(path.relative_to(self.root).as_posix())
                except FileNotFoundError:
                    continue  # its writer (or another sweep) removed it first
        return sorted(removed)


def open_folder(url: str, parts: SplitResult, options: SinkOptions) -> FolderSink:
    """`file:///absolute/dir` (S3 options are ignored)."""
    if parts.netloc not in ("", "localhost"):
        raise ValueError(
            f"sink url {url!r}: a file URL needs an absolute path, e.g. file:///var/lib/evm-digest "
            f"(three slashes); {parts.netloc!r} was read as a host"
        )
    path = unquote(parts.path)
    if not path.startswith("/") or any(p in (".", "..") for p in path.split("/")):
        raise ValueError(f"sink url {url!r}: use a normalised absolute path like file:///srv/out")
    return FolderSink(Path(path))


def locate_folder(uri: str, parts: SplitResult, options: SinkOptions) -> tuple[Sink, str]:
    path = Path(unquote(parts.path))
    folder_url = f"file://{parts.netloc}{path.parent.as_posix()}"
    return open_folder(folder_url, urlsplit(folder_url), options), validate_key(path.name, allow_seal=True)


SCHEME = SinkScheme(
    name="file",
    sink_class=FolderSink,
    example="file:///absolute/dir",
    object_example="file:///path",
    open=open_folder,
    locate=locate_folder,
)

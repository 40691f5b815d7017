"""Sink errors: one exception family, classified so an operator (or a retry policy) knows what to do.

Every message is a complete sentence naming the bucket (or folder), key and region plus a hint.
Messages are built only from names we chose and the store's error code/message, then passed through
`redact`, so credentials never reach a message or a log line.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evmdigest.emit.seal import Seal


class SinkErrorKind(StrEnum):
    NO_SUCH_BUCKET = "no_such_bucket"
    ACCESS_DENIED = "access_denied"
    BAD_CREDENTIALS = "bad_credentials"
    THROTTLED = "throttled"
    CONNECTION = "connection"
    CONFLICT = "conflict"
    PRODUCER = "producer"
    NOT_FOUND = "not_found"
    OTHER = "other"


# Only a retry can fix these two; everything else needs a person (or is a verdict, like a conflict).
RETRYABLE_KINDS = frozenset({SinkErrorKind.THROTTLED, SinkErrorKind.CONNECTION})

_HINTS: dict[SinkErrorKind, str] = {
    SinkErrorKind.NO_SUCH_BUCKET: "create the bucket or fix the bucket name in the sink URL",
    SinkErrorKind.ACCESS_DENIED: (
        "grant s3:GetObject, s3:PutObject, s3:ListBucket, s3:AbortMultipartUpload and "
        "s3:ListMultipartUploadParts on the bucket/prefix (and s3:DeleteObject on its claims/ keys) "
        "to the identity boto3 resolved"
    ),
    SinkErrorKind.BAD_CREDENTIALS: (
        "refresh or fix the AWS credentials boto3 resolves (AWS_PROFILE / AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY / `aws sso login`); the key id, secret and token are never printed"
    ),
    SinkErrorKind.THROTTLED: "the store is throttling or briefly unavailable; retry with backoff",
    SinkErrorKind.CONNECTION: (
        "check the endpoint (endpoint_url / AWS_ENDPOINT_URL), the region and the network; retry"
    ),
    SinkErrorKind.CONFLICT: (
        "the key is write-once and already holds an object; read its seal instead of overwriting, "
        "or emit under a new key"
    ),
    SinkErrorKind.PRODUCER: "fix the code that produces the payload; the store was not at fault",
    SinkErrorKind.NOT_FOUND: "check the key and prefix; nothing is stored there",
    SinkErrorKind.OTHER: "see the store's error code and message above",
}


def hint_for(kind: SinkErrorKind) -> str:
    return _HINTS[kind]


# AWS access key ids (AKIA…, ASIA…) and anything after a credential-ish label; belt and braces for
# store messages we echo, since S3 error bodies can quote the access key id.
_REDACTIONS = (
    re.compile(r"\b(?:AKIA|ASIA|AIDA|AROA|AGPA|ANPA|ANVA|AIPA)[A-Z0-9]{12,}\b"),
    re.compile(
        r"(?i)(\b(?:aws_)?(?:secret_access_key|access_key_id|session_token|security[-_]token|"
        r"secret|token|credential|signature|awsaccesskeyid)\s*[=:]\s*)([^\s,;&\"'<]+)"
    ),
    re.compile(r"(?i)(://)[^/\s:@]+:[^/\s@]+@"),
)


def redact(text: str) -> str:
    text = _REDACTIONS[0].sub("<redacted>", text)
    text = _REDACTIONS[1].sub(r"\1<redacted>", text)
    return _REDACTIONS[2].sub(r"\1<redacted>@", text)


class SinkError(Exception):
    """A sink operation failed. `kind` says what failed; `retryable` whether a retry can help.

    `store` is the sink's own label ("S3", "folder"); `location`, when the sink gives one, is how the
    message names the place (S3 adds the region and the s3:// URI), else "<store> sink <bucket>, key <key>".
    """

    def __init__(
        self,
        kind: SinkErrorKind,
        what: str,
        *,
        bucket: str,
        key: str | None,
        region: str | None,
        store: str,
        location: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.kind = kind
        self.bucket = bucket
        self.key = key
        self.region = region
        self.hint = hint if hint is not None else hint_for(kind)
        self.retryable = kind in RETRYABLE_KINDS
        self.store = store
        self.location = location
        self.what = redact(what)
        super().__init__(self._compose())

    def _compose(self) -> str:
        where = self.location or f"{self.store} sink {self.bucket!r}, key {self.key!r}"
        return f"{where}: {self.what}. Hint: {self.hint}."

    def add_detail(self, detail: str) -> None:
        """Append a clause (e.g. what cleanup could not be done) to the operator-facing message."""
        self.what = f"{self.what}; {redact(detail)}"
        self.args = (self._compose(),)

    def __reduce__(self) -> tuple[object, ...]:
        # Errors cross process/thread boundaries in Prefect; rebuild from the original fields.
        return (_rebuild, (type(self), self.__dict__.copy(), str(self)))


def _rebuild(cls: type[SinkError], state: dict[str, object], message: str) -> SinkError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


class SinkConflict(SinkError):
    """The key already holds an object; `existing_seal` is its seal (None if it was never sealed)."""

    def __init__(self, what: str, *, existing_seal: Seal | None = None, **where: Any) -> None:
        super().__init__(SinkErrorKind.CONFLICT, what, **where)
        self.existing_seal = existing_seal


class ProducerError(SinkError):
    """The payload producer (`write_fn` / the records iterable) raised; nothing was stored."""

    def __init__(self, what: str, **where: Any) -> None:
        super().__init__(SinkErrorKind.PRODUCER, what, **where)


class SinkNotFound(SinkError):
    """No object at the key (reads only; a missing bucket is `no_such_bucket`)."""

    def __init__(self, what: str, **where: Any) -> None:
        super().__init__(SinkErrorKind.NOT_FOUND, what, **where)


class CorruptObject(SinkError):
    """The stored bytes are not what we write: not one complete gzip member, not JSON, not a seal."""

    def __init__(self, what: str, **where: Any) -> None:
        hint = "the object was altered or not written by evm-digest; run `evm-digest verify`"
        super().__init__(SinkErrorKind.OTHER, what, hint=hint, **where)


class TamperedObject(SinkError):
    """A stored object no seal and no intent vouches for: replaced after it was written, or not ours.

    Never sealed; a run that meets one publishes nothing (`exit_code`, as the CLI maps it).
    """

    exit_code = 2

    def __init__(self, what: str, **where: Any) -> None:
        hint = (
            "the object was replaced after evm-digest wrote it (or predates intents and lost its seal); "
            "inspect it with `evm-digest verify`, then restore it from a trusted copy or move it aside and re-run"
        )
        super().__init__(SinkErrorKind.OTHER, what, hint=hint, **where)

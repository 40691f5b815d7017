"""ClassifyS3Error, in Python: map whatever boto3/botocore raised to a SinkError kind and hint."""

from __future__ import annotations

from typing import Any

from botocore import exceptions as bx

from evmdigest.emit.errors import SinkConflict, SinkError, SinkErrorKind, SinkNotFound

_BY_CODE: dict[str, SinkErrorKind] = {
    "NoSuchBucket": SinkErrorKind.NO_SUCH_BUCKET,
    "AccessDenied": SinkErrorKind.ACCESS_DENIED,
    "AllAccessDisabled": SinkErrorKind.ACCESS_DENIED,
    "AccountProblem": SinkErrorKind.ACCESS_DENIED,
    "InvalidAccessKeyId": SinkErrorKind.BAD_CREDENTIALS,
    "SignatureDoesNotMatch": SinkErrorKind.BAD_CREDENTIALS,
    "ExpiredToken": SinkErrorKind.BAD_CREDENTIALS,
    "ExpiredTokenException": SinkErrorKind.BAD_CREDENTIALS,
    "InvalidToken": SinkErrorKind.BAD_CREDENTIALS,
    "TokenRefreshRequired": SinkErrorKind.BAD_CREDENTIALS,
    "InvalidClientTokenId": SinkErrorKind.BAD_CREDENTIALS,
    "UnrecognizedClientException": SinkErrorKind.BAD_CREDENTIALS,
    "MissingSecurityHeader": SinkErrorKind.BAD_CREDENTIALS,
    "SlowDown": SinkErrorKind.THROTTLED,
    "ServiceUnavailable": SinkErrorKind.THROTTLED,
    "Throttling": SinkErrorKind.THROTTLED,
    "ThrottlingException": SinkErrorKind.THROTTLED,
    "RequestLimitExceeded": SinkErrorKind.THROTTLED,
    "TooManyRequestsException": SinkErrorKind.THROTTLED,
    "InternalError": SinkErrorKind.THROTTLED,
    "RequestTimeout": SinkErrorKind.THROTTLED,
    "PreconditionFailed": SinkErrorKind.CONFLICT,
    "ConditionalRequestConflict": SinkErrorKind.CONFLICT,
    "NoSuchKey": SinkErrorKind.NOT_FOUND,
    # The bytes received do not match the SHA-256 we supplied (x-amz-checksum-sha256 / Content-MD5:
    # BadDigest, InvalidDigest) or signed (x-amz-content-sha256 over plain HTTP). Seen on SeaweedFS;
    # moto 5.2.5 verifies neither.
    "BadDigest": SinkErrorKind.BAD_DIGEST,
    "InvalidDigest": SinkErrorKind.BAD_DIGEST,
    "XAmzContentSHA256Mismatch": SinkErrorKind.BAD_DIGEST,
}

# HEAD answers carry no error body, so botocore reports the bare status as the code.
_BY_STATUS: dict[int, SinkErrorKind] = {
    403: SinkErrorKind.ACCESS_DENIED,
    404: SinkErrorKind.NOT_FOUND,
    412: SinkErrorKind.CONFLICT,
    429: SinkErrorKind.THROTTLED,
    500: SinkErrorKind.THROTTLED,
    502: SinkErrorKind.THROTTLED,
    503: SinkErrorKind.THROTTLED,
    504: SinkErrorKind.THROTTLED,
}

_CREDENTIAL_EXCEPTIONS: tuple[type[Exception], ...] = (
    bx.NoCredentialsError,
    bx.PartialCredentialsError,
    bx.CredentialRetrievalError,
    bx.UnauthorizedSSOTokenError,
    bx.SSOTokenLoadError,
    bx.TokenRetrievalError,
    bx.ProfileNotFound,
)

# ResponseStreamingError: the connection broke while reading a body.
_CONNECTION_EXCEPTIONS: tuple[type[Exception], ...] = (
    bx.ConnectionError,
    bx.HTTPClientError,
    bx.ResponseStreamingError,
)

_CREDENTIAL_SOURCES = (
    "boto3 found no usable credentials in its chain (environment, AWS_PROFILE, shared files, SSO, "
    "container/instance role)"
)


S3_STORE = "S3"


def s3_location(bucket: str, key: str | None, region: str | None) -> str:
    """How error messages name a place in S3: bucket, key, region and the s3:// URI."""
    obj = f"s3://{bucket}/{key}" if key else f"s3://{bucket}"
    return f"S3 bucket {bucket!r}, key {key!r}, region {region or 'unknown'} ({obj})"


def client_error_code(exc: bx.ClientError) -> tuple[str, str, int]:
    err: dict[str, Any] = dict(exc.response.get("Error", {}))
    meta: dict[str, Any] = dict(exc.response.get("ResponseMetadata", {}))
    status = int(meta.get("HTTPStatusCode") or 0)
    return str(err.get("Code", status)), str(err.get("Message", "")), status


def classify_s3_error(
    exc: BaseException, *, operation: str, bucket: str, key: str | None, region: str | None
) -> SinkError:
    """One SinkError (or SinkConflict / SinkNotFound) for any failure of an S3 call."""
    where: dict[str, Any] = {
        "bucket": bucket,
        "key": key,
        "region": region,
        "store": S3_STORE,
        "location": s3_location(bucket, key, region),
    }
    if isinstance(exc, SinkError):
        return exc
    if isinstance(exc, bx.ClientError):
        code, message, status = client_error_code(exc)
        kind = _BY_CODE.get(code) or _BY_STATUS.get(status) or SinkErrorKind.OTHER
        if code == "404" and operation == "HeadBucket":
            kind = SinkErrorKind.NO_SUCH_BUCKET
        detail = f"{operation} failed with HTTP {status} {code}" + (f": {message}" if message else "")
        if kind is SinkErrorKind.CONFLICT:
            return SinkConflict(f"{detail}; an object already exists at this key and was not overwritten", **where)
        if kind is SinkErrorKind.NOT_FOUND:
            return SinkNotFound(f"{detail}; no object at this key", **where)
        return SinkError(kind, detail, **where)
    if isinstance(exc, _CREDENTIAL_EXCEPTIONS):
        return SinkError(
            SinkErrorKind.BAD_CREDENTIALS,
            f"{operation} could not sign the request: {type(exc).__name__}; {_CREDENTIAL_SOURCES}",
            **where,
        )
    if isinstance(exc, _CONNECTION_EXCEPTIONS):
        return SinkError(
            SinkErrorKind.CONNECTION,
            f"{operation} could not reach the store: {type(exc).__name__}: {exc}",
            **where,
        )
    return SinkError(SinkErrorKind.OTHER, f"{operation} failed: {type(exc).__name__}: {exc}", **where)

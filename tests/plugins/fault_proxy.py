"""A loopback HTTP proxy in front of a test S3 server (moto or SeaweedFS) that can misbehave on purpose.

- `inject(Fault(...))`: answer matching requests with a genuine S3 error response (status line plus
  the S3 XML error body) instead of forwarding them; boto3 parses it exactly as it would AWS's.
- `strip_headers("If-None-Match")`: forward requests without that header, i.e. play a store (older MinIO,
  some gateways) that ignores conditional writes. The header is SigV4-signed, so the proxy re-signs
  the request with the test key pair; otherwise a server that checks signatures (SeaweedFS) would
  answer 403 SignatureDoesNotMatch instead of exposing the overwrite.
- `corrupt(path_contains=...)`: flip one byte of the body of matching requests, as a faulty
  middlebox would, and send them with `x-amz-content-sha256: UNSIGNED-PAYLOAD` (re-signed), as boto3
  does over HTTPS: then only the SHA-256 the client supplied (x-amz-checksum-sha256) can catch it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Protocol

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

if TYPE_CHECKING:
    from tests.plugins.s3 import S3Target


class Upstream(Protocol):
    host: str
    port: int


@dataclass
class Fault:
    """Answer matching requests with an S3 error instead of forwarding them.

    A request matches when every given criterion holds: `method` (e.g. "PUT"), `path_contains`
    (substring of the path, i.e. bucket/key), `path_suffix` (the path ends with it: the object, not
    its `.seal.json` or `.intent-…` companions), `query_contains` (substring of the query string,
    e.g. "partNumber=2" or "uploads"). `times=None` fires forever; otherwise that many times.
    """

    status: int
    code: str
    message: str = "injected by the test fault proxy"
    method: str | None = None
    path_contains: str | None = None
    path_suffix: str | None = None
    query_contains: str | None = None
    times: int | None = None
    extra_xml: str = ""
    fired: int = field(default=0, init=False)

    def matches(self, method: str, path: str, query: str) -> bool:
        return (
            (self.times is None or self.fired < self.times)
            and (self.method is None or self.method == method)
            and (self.path_contains is None or self.path_contains in path)
            and (self.path_suffix is None or path.endswith(self.path_suffix))
            and (self.query_contains is None or self.query_contains in query)
        )

    def body(self, path: str) -> bytes:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error>'
            f"<Code>{self.code}</Code><Message>{self.message}</Message><Resource>{path}</Resource>"
            f"{self.extra_xml}<RequestId>FAULTPROXY{self.fired}</RequestId></Error>"
        ).encode()


_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "proxy-connection", "te", "upgrade"}


def resign(method: str, path: str, headers: dict[str, str], secrets: dict[str, str]) -> dict[str, str]:
    """`headers` with a SigV4 Authorization recomputed over the headers still present.

    Same timestamp, scope and payload hash (x-amz-content-sha256) as the client's signature; only
    the removed headers leave the signed set. Unsigned requests are returned unchanged.
    """
    auth = headers.get("Authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return headers
    fields = dict(part.strip().split("=", 1) for part in auth[len("AWS4-HMAC-SHA256 ") :].split(","))
    access_key, _date, region, service, _ = fields["Credential"].split("/")
    lower = {name.lower(): (name, value) for name, value in headers.items()}
    signed = [h for h in fields["SignedHeaders"].split(";") if h in lower]
    url = f"http://{lower['host'][1]}{path}"
    request = AWSRequest(method=method, url=url, headers={h: lower[h][1] for h in signed})
    request.context["timestamp"] = lower["x-amz-date"][1]
    signer = S3SigV4Auth(Credentials(access_key, secrets[access_key]), service, region)
    string_to_sign = signer.string_to_sign(request, signer.canonical_request(request))
    signature = signer.signature(string_to_sign, request)
    return {
        **headers,
        lower["authorization"][0]: (
            f"AWS4-HMAC-SHA256 Credential={fields['Credential']}, SignedHeaders={';'.join(signed)}, "
            f"Signature={signature}"
        ),
    }


class FaultProxy:
    """HTTP/1.1 forwarding proxy to an upstream S3 endpoint with injectable error answers."""

    def __init__(self, upstream: Upstream, secrets: dict[str, str] | None = None) -> None:
        self.upstream = upstream
        self.faults: list[Fault] = []
        self.stripped: set[str] = set()  # lower-case header names removed before forwarding
        self.corrupting: list[list[Any]] = []  # [path_contains, path_suffix, query_contains, times left or None]
        self.secrets = secrets or {}  # access key id -> secret, to re-sign stripped requests
        self.log: list[tuple[str, str, int]] = []  # (method, path?query, status sent back)
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive and `Expect: 100-continue`, as boto3 uses

            def _read_body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    data = bytearray()
                    while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                        data += self.rfile.read(size)
                        self.rfile.readline()
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _handle(self) -> None:
                body = self._read_body()  # drain first so the client's connection stays usable
                path, _, query = self.path.partition("?")
                fault = proxy._match(self.command, path, query)
                if fault is not None:
                    payload = fault.body(path)
                    # Logged before answering, so a client that got its answer also sees it logged.
                    proxy._record(self.command, self.path, fault.status)
                    self.send_response_only(fault.status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.send_header("x-amz-request-id", "FAULTPROXY")
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                    return
                self._forward(body)

            def _rewrite(self, body: bytes) -> tuple[dict[str, str], bytes]:
                headers = {name: value for name, value in self.headers.items() if name.lower() not in _HOP_BY_HOP}
                headers.pop("Content-Length", None)
                kept = {name: value for name, value in headers.items() if name.lower() not in proxy.stripped}
                if body and proxy._corrupts(self.path):
                    flipped = bytearray(body)
                    flipped[len(flipped) // 2] ^= 0x01
                    body = bytes(flipped)
                    for name in kept:
                        if name.lower() == "x-amz-content-sha256":
                            kept[name] = "UNSIGNED-PAYLOAD"
                if kept == headers:
                    return headers, body
                return resign(self.command, self.path, kept, proxy.secrets), body

            def _forward(self, body: bytes) -> None:
                headers, body = self._rewrite(body)
                conn = HTTPConnection(proxy.upstream.host, proxy.upstream.port, timeout=60)
                try:
                    conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                    for name, value in headers.items():
                        conn.putheader(name, value)
                    if body or self.command in ("PUT", "POST"):
                        conn.putheader("Content-Length", str(len(body)))
                    conn.endheaders(body or None)
                    resp = conn.getresponse()
                    data = resp.read()
                finally:
                    conn.close()
                proxy._record(self.command, self.path, resp.status)
                self.send_response_only(resp.status, resp.reason)
                for name, value in resp.getheaders():
                    if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                length = resp.getheader("Content-Length") if self.command == "HEAD" else str(len(data))
                self.send_header("Content-Length", length or "0")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint_url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def inject(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def strip_headers(self, *headers: str) -> None:
        """Forward every later request without these headers (re-signed when it was signed)."""
        if not self.secrets:
            raise ValueError("strip_headers() re-signs requests: construct the FaultProxy with the key pair's secrets")
        self.stripped.update(h.lower() for h in headers)

    def corrupt(
        self,
        *,
        path_contains: str | None = None,
        path_suffix: str | None = None,
        query_contains: str | None = None,
        times: int | None = None,
    ) -> None:
        """Flip a byte in the body of later requests whose path and query match these (`times` of them).

        `path_suffix` picks the object itself, not its `.intent-…` or `.seal.json` companions."""
        if not self.secrets:
            raise ValueError("corrupt() re-signs requests: construct the FaultProxy with the key pair's secrets")
        with self._lock:
            self.corrupting.append([path_contains, path_suffix, query_contains, times])

    def _corrupts(self, path_query: str) -> bool:
        path, _, query = path_query.partition("?")
        with self._lock:
            for rule in self.corrupting:
                p, suffix, q, left = rule
                matched = (p is None or p in path) and (suffix is None or path.endswith(suffix))
                if matched and (q is None or q in query) and left != 0:
                    rule[3] = None if left is None else left - 1
                    return True
        return False

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()
        self.stripped.clear()
        self.corrupting.clear()

    def target(self, direct: S3Target) -> S3Target:
        """The same bucket, reached through this proxy."""
        return direct.via(self.endpoint_url)

    def _match(self, method: str, path: str, query: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path, query):
                    fault.fired += 1
                    return fault
        return None

    def _record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.log.append((method, path, status))

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

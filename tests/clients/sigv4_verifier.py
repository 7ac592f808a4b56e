"""A loopback reverse proxy that checks AWS Signature Version 4 on every request with botocore's
own signer (independently of mcp-lambda's Rust signer), then forwards what it accepts.

usage: sigv4_verifier.py --upstream URL --region R --service S --access-key AK --secret-key SK
                         [--session-token T] [--clock-offset SECONDS] [--record FILE]
       sigv4_verifier.py --self-test

Contract:
- Listens on 127.0.0.1 on a free port (HTTP/1.1, one thread per connection) and prints
  `LISTENING <port>` on stdout once ready; runs until killed.
- Every request (any method) is read whole (Content-Length; a chunked upload is refused with 411)
  and verified: the `Authorization` header is `AWS4-HMAC-SHA256 Credential=AK/DATE/REGION/SERVICE/
  aws4_request, SignedHeaders=..., Signature=...` with the expected key, region and service;
  `host` and `x-amz-date` are signed; X-Amz-Date is within 5 minutes of now + --clock-offset; with
  --session-token, `x-amz-security-token` equals it and is signed (without, it must be absent);
  `x-amz-content-sha256` is present, signed and the hex SHA-256 of the body. The signature is then
  recomputed by botocore's `SigV4Auth` (canonical request → string to sign → signature) over an
  `AWSRequest` holding only the signed headers as received, at the request's own X-Amz-Date, and
  compared in constant time.
- A refusal answers 403 (411 for a chunked upload) with Lambda's JSON shape `{"message": ...}` and
  an `x-amzn-ErrorType` header, and logs `REFUSED <reason>` on stderr (for a signature mismatch,
  followed by botocore's canonical request and string to sign, indented).
- An accepted request logs `VERIFIED <METHOD> <path>` on stderr; with --record, one JSON line
  `{"method", "path", "headers": {lower-case name: value}, "body": <utf-8 text>}` is appended to
  FILE. It is then forwarded to the upstream (the upstream URL's path, if any, prefixed to the
  request's path and query) with the same method, body and headers, less Authorization, X-Amz-*,
  Host, Connection and Content-Length (the right one is set). The upstream's answer comes back as
  it arrives — status, headers (less Transfer-Encoding, Connection, Content-Length),
  `Connection: close`, then the body chunk by chunk, so Server-Sent Events reach the client event
  by event — and the connection closes. An upstream that cannot be reached answers 502 JSON.
- --self-test signs requests with botocore, checks that the verifier accepts them and refuses
  tampered ones, prints `self-test ok` and exits 0 (non-zero with the failure otherwise). No network.

Needs only the standard library and botocore.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import hmac
import http.client
import json
import re
import sys
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, Iterable
from urllib.parse import urlsplit

from botocore.auth import SIGNED_HEADERS_BLACKLIST, SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = dt.timedelta(minutes=5)
UPSTREAM_TIMEOUT = 300.0  # seconds of upstream silence tolerated (an idle SSE stream included)
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)
INVALID_TOKEN = "The security token included in the request is invalid."
# Request headers never forwarded upstream (besides every X-Amz-*).
DROP_REQUEST = {"authorization", "host", "connection", "content-length", "keep-alive", "transfer-encoding"}
# Upstream response headers never relayed.
DROP_RESPONSE = {"transfer-encoding", "connection", "content-length", "keep-alive"}
AMZ_DATE = re.compile(r"^\d{8}T\d{6}Z$")
SIGNATURE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Expected:
    """What a request must be signed with."""

    access_key: str
    secret_key: str
    session_token: str | None
    region: str
    service: str


class Refused(Exception):
    """A request the verifier does not accept: `reason` is Lambda-style text, `error_type` goes to
    `x-amzn-ErrorType`, `detail` (canonical request etc.) only to stderr."""

    def __init__(self, reason: str, error_type: str = "InvalidSignatureException", detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.error_type = error_type
        self.detail = detail


class _ClaimedHeadersSigV4(SigV4Auth):
    """botocore's SigV4 over exactly the headers of the request it is given (ours carries only the
    signed ones). Used only when the client signed a header on botocore's never-sign list (e.g.
    user-agent), which AWS itself accepts; everything else is botocore's stock canonicalization."""

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        header_map = HTTPHeaders()
        for name, value in request.headers.items():
            header_map[name.lower()] = value
        return header_map


def _one(headers: dict[str, list[str]], name: str) -> str | None:
    values = headers.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise Refused(f"The request has {len(values)} '{name}' headers; expected one.", "IncompleteSignatureException")
    return values[0]


def _parse_authorization(value: str) -> tuple[str, str, str]:
    """(credential, signed headers, signature) from an Authorization header."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise Refused(f"Unsupported authorization algorithm '{algorithm}'; expected {ALGORITHM}.",
                      "IncompleteSignatureException")
    parts: dict[str, str] = {}
    for item in rest.split(","):
        key, eq, val = item.strip().partition("=")
        if not eq or key in parts:
            raise Refused(f"Authorization header is malformed: '{value}'.", "IncompleteSignatureException")
        parts[key] = val
    if set(parts) != {"Credential", "SignedHeaders", "Signature"}:
        raise Refused("Authorization header requires exactly 'Credential', 'SignedHeaders' and 'Signature' "
                      f"parameters; got {sorted(parts)}.", "IncompleteSignatureException")
    return parts["Credential"], parts["SignedHeaders"], parts["Signature"]


def verify(
    expected: Expected,
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    now: dt.datetime,
) -> None:
    """Raises `Refused` unless the request (`target` is the raw path plus query, `headers` every
    received header in order, `now` the verifier's UTC time) carries a valid SigV4 signature for
    `expected`."""
    received: dict[str, list[str]] = {}
    for name, value in headers:
        received.setdefault(name.lower().strip(), []).append(value)

    authorization = _one(received, "authorization")
    if authorization is None:
        raise Refused("Missing Authentication Token", "MissingAuthenticationTokenException")
    credential, signed_list, signature = _parse_authorization(authorization)

    scope = credential.split("/")
    if len(scope) != 5:
        raise Refused(f"Credential '{credential}' is not AK/DATE/REGION/SERVICE/aws4_request.",
                      "IncompleteSignatureException")
    access_key, scope_date, region, service, terminator = scope
    if access_key != expected.access_key:
        raise Refused(INVALID_TOKEN, "UnrecognizedClientException")
    if region != expected.region:
        raise Refused(f"Credential should be scoped to a valid region, not '{region}' (expected "
                      f"'{expected.region}').")
    if service != expected.service:
        raise Refused(f"Credential should be scoped to correct service: '{expected.service}'.")
    if terminator != "aws4_request":
        raise Refused("Credential should be scoped with a valid terminator: 'aws4_request', "
                      f"not '{terminator}'.")

    signed = signed_list.split(";")
    if signed != sorted(set(signed)) or any(h != h.lower().strip() or not h for h in signed):
        raise Refused(f"SignedHeaders '{signed_list}' is not sorted, unique, lower-case.",
                      "IncompleteSignatureException")
    for required in ("host", "x-amz-date"):
        if required not in signed:
            raise Refused(f"'{required}' must be a 'SignedHeader' in the AWS Authorization.",
                          "IncompleteSignatureException")
    for name in signed:
        if name not in received:
            raise Refused(f"Signed header '{name}' is not in the request.", "IncompleteSignatureException")
    if not SIGNATURE.match(signature):
        raise Refused(f"Signature '{signature}' is not 64 lower-case hex digits.", "IncompleteSignatureException")

    amz_date = _one(received, "x-amz-date") or ""
    if not AMZ_DATE.match(amz_date):
        raise Refused(f"X-Amz-Date '{amz_date}' is not in the form YYYYMMDD'T'HHMMSS'Z'.",
                      "IncompleteSignatureException")
    if amz_date[:8] != scope_date:
        raise Refused("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
                      f"HTTP: '{scope_date}' != '{amz_date[:8]}', from '{amz_date}'.")
    signed_at = dt.datetime.strptime(amz_date, SIGV4_TIMESTAMP).replace(tzinfo=dt.timezone.utc)
    stamp = now.strftime(SIGV4_TIMESTAMP)
    if signed_at < now - MAX_SKEW:
        earliest = (now - MAX_SKEW).strftime(SIGV4_TIMESTAMP)
        raise Refused(f"Signature expired: {amz_date} is now earlier than {earliest} ({stamp} - 5 min.)")
    if signed_at > now + MAX_SKEW:
        latest = (now + MAX_SKEW).strftime(SIGV4_TIMESTAMP)
        raise Refused(f"Signature not yet current: {amz_date} is still later than {latest} ({stamp} + 5 min.)")

    token = _one(received, "x-amz-security-token")
    if expected.session_token is None:
        if token is not None:
            raise Refused(INVALID_TOKEN + " (no session token is expected)", "UnrecognizedClientException")
    else:
        if token is None:
            raise Refused(INVALID_TOKEN + " (x-amz-security-token is missing)", "UnrecognizedClientException")
        if not hmac.compare_digest(token.encode(), expected.session_token.encode()):
            raise Refused(INVALID_TOKEN, "UnrecognizedClientException")
        if "x-amz-security-token" not in signed:
            raise Refused("'x-amz-security-token' must be a 'SignedHeader' in the AWS Authorization.",
                          "IncompleteSignatureException")

    content_sha = _one(received, "x-amz-content-sha256")
    if content_sha is None:
        raise Refused("Missing required header for this request: x-amz-content-sha256",
                      "IncompleteSignatureException")
    if "x-amz-content-sha256" not in signed:
        raise Refused("'x-amz-content-sha256' must be a 'SignedHeader' in the AWS Authorization.",
                      "IncompleteSignatureException")
    if content_sha != hashlib.sha256(body).hexdigest():
        raise Refused("The provided 'x-amz-content-sha256' header does not match what was computed.")

    # botocore recomputes the signature over the signed headers exactly as received.
    request = AWSRequest(method=method, url="http://" + received["host"][0] + target, data=body)
    for name in signed:
        for value in received[name]:
            request.headers[name] = value
    request.context["timestamp"] = amz_date  # what SigV4Auth.add_auth would set from the clock
    beyond_botocore = [h for h in signed if h in SIGNED_HEADERS_BLACKLIST]
    signer_cls = _ClaimedHeadersSigV4 if beyond_botocore else SigV4Auth
    signer = signer_cls(Credentials(expected.access_key, expected.secret_key, token), expected.service,
                        expected.region)
    if signer.signed_headers(signer.headers_to_sign(request)) != signed_list:
        raise Refused(f"SignedHeaders '{signed_list}' are not the ones botocore canonicalizes "
                      f"('{signer.signed_headers(signer.headers_to_sign(request))}').")
    canonical_request = signer.canonical_request(request)
    string_to_sign = signer.string_to_sign(request, canonical_request)
    calculated = signer.signature(string_to_sign, request)
    if not hmac.compare_digest(calculated, signature):
        detail = (f"canonical request:\n{canonical_request}\nstring to sign:\n{string_to_sign}\n"
                  f"calculated {calculated}, provided {signature}")
        raise Refused(SIGNATURE_MISMATCH, detail=detail)


def _utc_now(offset: float) -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=offset)


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class VerifierServer(ThreadingHTTPServer):
    """The listening proxy with its configuration."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(self, expected: Expected, upstream: str, clock_offset: float, record: IO[str] | None) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.expected = expected
        self.upstream = urlsplit(upstream)
        if self.upstream.scheme not in ("http", "https") or not self.upstream.hostname:
            raise ValueError(f"--upstream must be an http(s) URL, got {upstream!r}")
        self.clock_offset = clock_offset
        self.record = record
        self.record_lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    """Verify, record, forward, stream back; one request per connection."""

    protocol_version = "HTTP/1.1"
    server: VerifierServer

    def _json(self, status: int, message: str, error_type: str | None = None) -> None:
        data = json.dumps({"message": message}).encode()
        self.send_response_only(status)
        self.send_header("Content-Type", "application/json")
        if error_type:
            self.send_header("x-amzn-ErrorType", error_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _handle(self) -> None:
        self.close_connection = True
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            _log("REFUSED chunked request body (Content-Length required)")
            self._json(411, "Length Required: a chunked request body cannot be verified", "LengthRequiredException")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self._json(400, "Bad Content-Length")
            return
        body = self.rfile.read(length) if length > 0 else b""
        try:
            verify(self.server.expected, self.command, self.path, self.headers.items(), body,
                   _utc_now(self.server.clock_offset))
        except Refused as refused:
            _log(f"REFUSED {refused.reason}")
            if refused.detail:
                _log("\n".join("    " + line for line in refused.detail.splitlines()))
            self._json(403, refused.reason, refused.error_type)
            return
        _log(f"VERIFIED {self.command} {self.path}")
        if self.server.record is not None:
            headers: dict[str, str] = {}
            for name, value in self.headers.items():
                key = name.lower()
                headers[key] = f"{headers[key]}, {value}" if key in headers else value
            line = json.dumps({"method": self.command, "path": self.path, "headers": headers,
                               "body": body.decode("utf-8", errors="replace")})
            with self.server.record_lock:
                self.server.record.write(line + "\n")
                self.server.record.flush()
        self._forward(body)

    def _forward(self, body: bytes) -> None:
        up = self.server.upstream
        conn_cls = http.client.HTTPSConnection if up.scheme == "https" else http.client.HTTPConnection
        conn = conn_cls(up.hostname, up.port, timeout=UPSTREAM_TIMEOUT)
        try:
            try:
                conn.putrequest(self.command, up.path.rstrip("/") + self.path, skip_accept_encoding=True)
                for name, value in self.headers.items():
                    lname = name.lower()
                    if lname not in DROP_REQUEST and not lname.startswith("x-amz-"):
                        conn.putheader(name, value)
                if body or "Content-Length" in self.headers:
                    conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body or None)
                response = conn.getresponse()
            except (OSError, http.client.HTTPException) as e:
                _log(f"UPSTREAM-ERROR {self.command} {self.path}: {e!r}")
                self._json(502, f"upstream {up.geturl()} failed: {e}", "BadGatewayException")
                return
            self.send_response_only(response.status, response.reason)
            for name, value in response.getheaders():
                if name.lower() not in DROP_RESPONSE:
                    self.send_header(name, value)
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command == "HEAD" or response.status in (204, 304) or 100 <= response.status < 200:
                return
            while True:
                chunk = response.read1(65536)
                if not chunk:
                    break
                self.wfile.write(chunk)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away; drop the upstream too
        except (OSError, http.client.HTTPException) as e:
            _log(f"UPSTREAM-ERROR {self.command} {self.path} while streaming: {e!r}")
        finally:
            conn.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # our own VERIFIED/REFUSED lines say it


def self_test() -> None:
    """Signs requests with botocore's SigV4Auth.add_auth and checks verify()'s verdicts."""
    host = "127.0.0.1:8080"
    expected = Expected("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token/xyz=",
                        "eu-west-3", "lambda")

    def sign(method: str, target: str, body: bytes, extra: dict[str, str] | None = None, *,
             secret: str | None = None, token: str | None = "", region: str | None = None,
             content_sha: bool = True) -> tuple[list[tuple[str, str]], dt.datetime]:
        request = AWSRequest(method=method, url=f"http://{host}{target}", data=body, headers=extra or {})
        if content_sha:
            request.headers["X-Amz-Content-SHA256"] = hashlib.sha256(body).hexdigest()
        creds = Credentials(expected.access_key, secret or expected.secret_key,
                            expected.session_token if token == "" else token)
        SigV4Auth(creds, expected.service, region or expected.region).add_auth(request)
        signed_at = dt.datetime.strptime(request.context["timestamp"], SIGV4_TIMESTAMP)
        # On the wire an HTTP client adds Host (botocore signs it from the URL).
        return [("Host", host), *request.headers.items()], signed_at.replace(tzinfo=dt.timezone.utc)

    def check(label: str, want: str | None, method: str, target: str, headers: list[tuple[str, str]],
              body: bytes, now: dt.datetime) -> None:
        try:
            verify(expected, method, target, headers, body, now)
            got = None
        except Refused as refused:
            got = refused.reason
        if want is None and got is not None:
            raise AssertionError(f"{label}: refused ({got}), should be accepted")
        if want is not None and (got is None or want not in got):
            raise AssertionError(f"{label}: got {got!r}, want a refusal containing {want!r}")

    def replace(headers: list[tuple[str, str]], name: str, value: str) -> list[tuple[str, str]]:
        return [(n, value if n.lower() == name else v) for n, v in headers]

    invoke = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-3%3A123456789012%3Afunction%3Amcp/invocations"
    body = b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
    ctype = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    headers, at = sign("POST", invoke, body, ctype)
    check("POST invoke", None, "POST", invoke, headers, body, at)
    check("POST 4 min later", None, "POST", invoke, headers, body, at + dt.timedelta(minutes=4))
    check("tampered body", "x-amz-content-sha256", "POST", invoke, headers, body + b" ", at)
    tampered = body.replace(b"tools/list", b"tools/call")
    check("tampered body and hash", "signature we calculated", "POST", invoke,
          replace(headers, "x-amz-content-sha256", hashlib.sha256(tampered).hexdigest()), tampered, at)
    check("tampered header", "signature we calculated", "POST", invoke,
          replace(headers, "content-type", "text/plain"), body, at)
    check("tampered path", "signature we calculated", "POST", invoke.replace("mcp/", "other/"), headers, body, at)
    check("stale", "Signature expired", "POST", invoke, headers, body, at + dt.timedelta(minutes=6))
    check("future", "Signature not yet current", "POST", invoke, headers, body, at - dt.timedelta(minutes=6))
    check("no authorization", "Missing Authentication Token", "POST", invoke,
          [(n, v) for n, v in headers if n.lower() != "authorization"], body, at)

    wrong_token, at = sign("POST", invoke, body, ctype, token="another-token")
    check("wrong session token", "security token", "POST", invoke, wrong_token, body, at)
    no_token, at = sign("POST", invoke, body, ctype, token=None)
    check("missing session token", "x-amz-security-token is missing", "POST", invoke, no_token, body, at)
    wrong_secret, at = sign("POST", invoke, body, ctype, secret="not-the-secret")
    check("wrong secret", "signature we calculated", "POST", invoke, wrong_secret, body, at)
    wrong_region, at = sign("POST", invoke, body, ctype, region="us-east-1")
    check("wrong region", "valid region", "POST", invoke, wrong_region, body, at)
    unsigned_sha, at = sign("POST", invoke, body, ctype, content_sha=False)
    unsigned_sha.append(("X-Amz-Content-SHA256", hashlib.sha256(body).hexdigest()))
    check("unsigned content hash", "must be a 'SignedHeader'", "POST", invoke, unsigned_sha, body, at)

    query = "/mcp?b=2&a=1&a=0"
    sse = {"Accept": "text/event-stream", "Mcp-Session-Id": "abc", "mcp-protocol-version": "2025-06-18"}
    headers, at = sign("GET", query, b"", sse)
    check("GET with query", None, "GET", query, headers, b"", at)
    check("tampered query", "signature we calculated", "GET", "/mcp?b=2&a=1&a=1", headers, b"", at)
    headers, at = sign("DELETE", "/mcp", b"", {"Mcp-Session-Id": "abc"})
    check("DELETE", None, "DELETE", "/mcp", headers, b"", at)
    check("method changed", "signature we calculated", "POST", "/mcp", headers, b"", at)
    print("self-test ok", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--self-test", action="store_true", help="check the verifier offline and exit")
    parser.add_argument("--upstream", help="where accepted requests go, e.g. http://127.0.0.1:9000")
    parser.add_argument("--region")
    parser.add_argument("--service")
    parser.add_argument("--access-key")
    parser.add_argument("--secret-key")
    parser.add_argument("--session-token")
    parser.add_argument("--clock-offset", type=float, default=0.0,
                        help="seconds added to this clock before the 5-minute freshness check")
    parser.add_argument("--record", help="append one JSON line per accepted request to this file")
    args = parser.parse_args()
    if args.self_test:
        self_test()
        return
    missing = [f"--{n.replace('_', '-')}" for n in ("upstream", "region", "service", "access_key", "secret_key")
               if not getattr(args, n)]
    if missing:
        parser.error("missing " + ", ".join(missing))
    expected = Expected(args.access_key, args.secret_key, args.session_token, args.region, args.service)
    record = open(args.record, "a", encoding="utf-8") if args.record else None
    server = VerifierServer(expected, args.upstream, args.clock_offset, record)
    print(f"LISTENING {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if record is not None:
            record.close()


if __name__ == "__main__":
    main()

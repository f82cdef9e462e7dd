"""HTTP transport of the Gmail emulator: socket server and Google's batch wire format.

What it is: a ``ThreadingHTTPServer`` whose handler reads each request (Content-Length or
chunked), hands it to ``GmailEmulator.handle`` and writes the ``Response`` back with HTTP/1.1
keep-alive, plus the codec for ``POST /batch/gmail/v1``: a ``multipart/mixed`` body whose parts
are ``application/http`` requests, answered by a ``multipart/mixed`` body whose parts carry
``Content-ID: <response-ID>`` for each request's ``Content-ID: <ID>``.

How it works: ``serve(handle_fn)`` binds 127.0.0.1, starts ``serve_forever`` in a daemon thread
and returns the server; ``split_multipart`` cuts a multipart body at its boundary byte-exactly
(batches and multipart uploads); ``parse_inner_request`` reads one embedded request (request
line, headers, blank line, body); ``render_batch`` serialises the inner ``Response`` objects
with CRLF line ends, which google-api-python-client's parser requires. Nagle is off so the
separate header and body writes do not stall keep-alive clients.

How to use it: through ``GmailEmulator``; nothing here knows about Gmail semantics.

Caveats: Google caps a batch at 100 parts; more is answered 400 by the emulator before any part
runs. Inner parts run sequentially, whereas Google may run them in parallel.
"""

import logging
import re
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .wire import ApiError, error_body

logger = logging.getLogger("emulators.gmail")
MAX_BATCH_PARTS = 100


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "GmailEmulator/1.0"
    # Headers and body go out in separate writes; with Nagle on, keep-alive clients would wait
    # ~40 ms for a delayed ACK on every call.
    disable_nagle_algorithm = True

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self):
        body = self._read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        response = self.server.handle_fn(self.command, self.path, headers, body)
        self.send_response(response.status, response.reason)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    def log_message(self, fmt, *args):
        logger.debug("%s %s", self.address_string(), fmt % args)


def serve(handle_fn, host="127.0.0.1", port=0):
    server = ThreadingHTTPServer((host, port), _Handler)
    server.daemon_threads = True
    server.handle_fn = handle_fn
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="gmail-emulator", daemon=True
    )
    thread.start()
    return server, thread


def _split_head(data):
    """(header text, body bytes) at the first blank line; CRLF and bare LF both occur."""
    if data.startswith((b"\r\n", b"\n")):
        return "", data[2:] if data.startswith(b"\r\n") else data[1:]
    crlf, lf = data.find(b"\r\n\r\n"), data.find(b"\n\n")
    if crlf < 0 and lf < 0:
        return data.decode("latin-1"), b""
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return data[:crlf].decode("latin-1"), data[crlf + 4 :]
    return data[:lf].decode("latin-1"), data[lf + 2 :]


def _header_map(lines):
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        if name.strip():
            headers[name.strip().lower()] = value.strip()
    return headers


def split_multipart(content_type, body):
    """Byte-exact [(headers, content)] of a multipart body (batch or multipart upload)."""
    found = re.search(r'boundary="?([^";]+)"?', content_type, re.IGNORECASE)
    if not content_type.lower().startswith("multipart/") or not found:
        raise ApiError.bad_request("Expected a multipart body with a boundary.")
    delimiter = b"--" + found.group(1).strip().encode("latin-1")
    parts = []
    for segment in body.split(delimiter)[1:]:
        if segment.startswith(b"--"):
            break
        # The line break after a delimiter and the one before the next belong to the delimiters.
        chunk = segment[2:] if segment.startswith(b"\r\n") else segment.removeprefix(b"\n")
        chunk = chunk[:-2] if chunk.endswith(b"\r\n") else chunk.removesuffix(b"\n")
        head, content = _split_head(chunk)
        parts.append((_header_map(head.replace("\r\n", "\n").split("\n")), content))
    return parts


def parse_inner_request(data):
    """Split one ``application/http`` part into (method, target, headers, body)."""
    head, body = _split_head(data.lstrip(b"\r\n"))
    lines = head.replace("\r\n", "\n").split("\n")
    request_line = lines[0].split()
    if len(request_line) < 2:
        raise ApiError.bad_request(f"Malformed request line in batch part: {lines[0]!r}")
    return request_line[0].upper(), request_line[1], _header_map(lines[1:]), body


def split_batch(content_type, body):
    """Return [(content_id, inner_request_bytes)] of a batch body, or raise ApiError 400."""
    parts = split_multipart(content_type, body)
    if not parts:
        raise ApiError.bad_request("Batch request contains no parts.")
    if len(parts) > MAX_BATCH_PARTS:
        raise ApiError(
            400,
            error_body(
                400,
                f"Exceeded the limit of {MAX_BATCH_PARTS} calls in a single batch request.",
                "batchSizeTooLarge",
            ),
        )
    return [(headers.get("content-id", ""), content) for headers, content in parts]


def render_batch(items):
    """Encode [(content_id, Response)] as Google does; returns (content_type, body)."""
    boundary = "batch_" + secrets.token_urlsafe(18).replace("-", "A").replace("_", "B")
    out = []
    for content_id, response in items:
        inner_id = content_id.strip("<>")
        head = [f"HTTP/1.1 {response.status} {response.reason}"]
        head += [f"{k}: {v}" for k, v in response.headers.items()]
        head.append(f"Content-Length: {len(response.body)}")
        out.append(
            f"--{boundary}\r\nContent-Type: application/http\r\n"
            f"Content-ID: <response-{inner_id}>\r\n\r\n".encode()
            + "\r\n".join(head).encode("latin-1")
            + b"\r\n\r\n"
            + response.body
            + b"\r\n"
        )
    out.append(f"--{boundary}--\r\n".encode())
    return f"multipart/mixed; boundary={boundary}", b"".join(out)

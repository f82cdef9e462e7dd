"""TLS for the Microsoft emulator: a throw-away CA, a localhost certificate, an HTTPS server.

What it is: msal accepts only an ``https`` authority with a host name, so the emulator must speak
TLS. ``make_certificates`` creates a self-signed CA and a server certificate for ``localhost`` and
``127.0.0.1`` (subject alternative names) and writes the CA bundle to a temporary PEM file that
clients pass as ``verify=`` to requests (directly, or through msal's ``http_client``).
``serve`` runs the Gmail emulator's request handler (``emulators.gmail.server``) on an
``HTTPSServer``, so both emulators share one HTTP/1.1 implementation.

How it works: keys are EC P-256 because generating them takes milliseconds, where RSA-2048 takes
a noticeable fraction of a second on every emulator start. Accepted connections are wrapped with
``do_handshake_on_connect=False`` so the TLS handshake happens in the connection's worker thread,
not in the accept loop where one slow client would stall all others.

How to use it::

    certs = make_certificates()                  # certs.ca_bundle is the PEM path for clients
    server, thread = serve(handle_fn, "127.0.0.1", 0, certs)

Caveats: the certificates are valid for one day and are meant for loopback only; the temporary
directory is removed by ``Certificates.cleanup`` (``GraphEmulator.stop`` calls it).
"""

import datetime
import ipaddress
import logging
import shutil
import ssl
import sys
import tempfile
import threading
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.backends import default_backend
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# The handler is protocol-generic (reads a request, calls handle_fn, writes a Response); sharing
# it keeps keep-alive, chunked bodies and Nagle handling identical in both emulators.
from emulators.gmail.server import _Handler

_logger = logging.getLogger("emulators.graph")
VALIDITY = datetime.timedelta(days=1)


@dataclass
class Certificates:
    directory: str
    ca_bundle: str
    cert_file: str
    key_file: str

    def cleanup(self):
        shutil.rmtree(self.directory, ignore_errors=True)


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _new_key():
    return ec.generate_private_key(ec.SECP256R1(), default_backend())


def _builder(subject, issuer, public_key):
    now = datetime.datetime.utcnow()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
    )


def make_certificates():
    """Create a CA and a localhost/127.0.0.1 server certificate in a fresh temp directory."""
    backend = default_backend()
    ca_key, server_key = _new_key(), _new_key()
    ca_name = _name("Trail Graph Emulator CA")
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256(), backend)
    )
    alt_names = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    server_cert = (
        _builder(_name("localhost"), ca_name, server_key.public_key())
        .add_extension(alt_names, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256(), backend)
    )

    directory = Path(tempfile.mkdtemp(prefix="graph-emulator-"))
    pem = serialization.Encoding.PEM
    ca_bundle, cert_file, key_file = (directory / n for n in ("ca.pem", "server.pem", "key.pem"))
    ca_bundle.write_bytes(ca_cert.public_bytes(pem))
    cert_file.write_bytes(server_cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    key_file.write_bytes(
        server_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return Certificates(str(directory), str(ca_bundle), str(cert_file), str(key_file))


class GraphHandler(_Handler):
    server_version = "GraphEmulator/1.0"


class HTTPSServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, handler, context):
        self.context = context
        super().__init__(address, handler)

    def get_request(self):
        sock, address = self.socket.accept()
        wrapped = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return wrapped, address

    def handle_error(self, request, client_address):
        # A client dropping the connection mid-handshake is normal (probes, aborted tests), so
        # this is debug noise rather than the traceback on stderr the base class prints.
        _logger.debug("connection from %s failed: %s", client_address, sys.exc_info()[1])


def serve(handle_fn, host, port, certificates):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates.cert_file, certificates.key_file)
    server = HTTPSServer((host, port), GraphHandler, context)
    server.handle_fn = handle_fn
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="graph-emulator", daemon=True
    )
    thread.start()
    return server, thread

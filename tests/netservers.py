"""Small local servers for outbound-check tests: HTTP with a route table, a raw TCP service
that answers with a banner (not HTTP), and a recorder of every socket connection attempt.

Each HTTP server records the requests it served (path and ``Host`` header) in ``hits``, so a
test can assert that a refused target was never reached.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        self.server.hits.append((self.path, self.headers.get("Host", "")))
        route = self.server.routes.get(self.path.split("?", 1)[0])
        if route is None:
            status, body, headers = 404, b"not here", {}
        elif callable(route):
            route(self)
            return
        else:
            status, body, headers = route
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


@contextlib.contextmanager
def http_server(host: str = "127.0.0.1", port: int = 0, routes: dict | None = None):
    """A threaded HTTP server on ``host:port``; ``routes`` maps a path to (status, body,
    headers) or to a function of the handler. Yields the server with ``url`` and ``hits``."""
    cls = _Server6 if ":" in host else _Server
    httpd = cls((host, port), _Handler)
    httpd.hits = []
    httpd.routes = {"/ok": (200, b'{"status": "healthy"}', {}), **(routes or {})}
    shown = f"[{host}]" if ":" in host else host
    httpd.url = f"http://{shown}:{httpd.server_address[1]}"
    httpd.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextlib.contextmanager
def banner_server(banner: bytes, host: str = "127.0.0.1"):
    """A TCP service that answers every connection with ``banner`` and closes: what a database,
    an SMTP or an SSH server says first. Yields (url, connections)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    sock.listen(8)
    sock.settimeout(0.2)
    stop, connections = threading.Event(), []

    def serve():
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            connections.append(conn.getpeername())
            with conn:
                conn.settimeout(1)
                with contextlib.suppress(OSError):
                    conn.recv(4096)
                    conn.sendall(banner)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{sock.getsockname()[1]}", connections
    finally:
        stop.set()
        thread.join(2)
        sock.close()


def drip(handler, *, chunks: int = 40, every: float = 0.1) -> None:
    """A route that sends its headers at once and then one byte every ``every`` seconds."""
    handler.send_response(200)
    handler.send_header("Content-Length", str(chunks))
    handler.end_headers()
    for _ in range(chunks):
        try:
            handler.wfile.write(b".")
            handler.wfile.flush()
        except OSError:
            return
        time.sleep(every)


@contextlib.contextmanager
def recorded_connections(monkeypatch):
    """Every address a socket of this process tries to connect to, in order."""
    attempts: list[str] = []
    original = socket.socket.connect

    def connect(self, address):
        attempts.append(str(address[0]))
        return original(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    yield attempts


def fake_dns(monkeypatch, answers: dict[str, list]):
    """Make ``socket.getaddrinfo`` answer ``answers[name]`` for the names given: a list of
    addresses, or a list of such lists (one per lookup, the last repeated). Other names resolve
    as usual. Returns the list of names looked up."""
    real = socket.getaddrinfo
    asked: list[str] = []
    calls: dict[str, int] = {}

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return real(host, port, *args, **kwargs)
        asked.append(host)
        plan = answers[host]
        if plan and isinstance(plan[0], list):
            n = calls.get(host, 0)
            calls[host] = n + 1
            plan = plan[min(n, len(plan) - 1)]
        out = []
        for address in plan:
            if ":" in address:
                out.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0)))
            else:
                out.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)))
        return out

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def self_signed(tmp_path, name: str):
    """A certificate for ``name`` (and a key), and a client context that trusts only it."""
    import datetime
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    client = ssl.create_default_context(cafile=str(cert_file))
    return cert_file, key_file, client


@contextlib.contextmanager
def https_server(host: str, cert_file, key_file, routes: dict | None = None):
    """``http_server`` over TLS; the server records the SNI names it was asked for in ``sni``."""
    import ssl

    with http_server(host, routes=routes) as httpd:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert_file), str(key_file))
        httpd.sni = []
        context.sni_callback = lambda sock, name, ctx: httpd.sni.append(name)
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        httpd.url = httpd.url.replace("http://", "https://")
        yield httpd

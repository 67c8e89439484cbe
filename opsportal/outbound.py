"""Outbound HTTP from the portal: which addresses it may reach, and how it reaches them.

Anything the portal fetches on someone's say-so (an automated runbook check today) goes through
:func:`fetch`, which

- resolves the host and refuses the request when *any* resolved address is loopback,
  link-local (169.254.169.254 and the other cloud metadata addresses among them), private
  (RFC 1918, fc00::/7), shared (100.64.0.0/10), multicast, reserved, unspecified or otherwise
  not globally routable — IPv4 and IPv6 alike, looking through IPv4-mapped (``::ffff:a.b.c.d``),
  NAT64 and 6to4 addresses to the IPv4 address inside;
- connects to the address it checked (:class:`PinnedHTTPConnection`), with the URL's host name
  kept for the ``Host`` header and for TLS (SNI and certificate checks), so DNS cannot answer
  differently between the check and the connection;
- follows redirects itself, one hop at a time, vetting every hop again (bounded);
- never passes on what a non-HTTP service answered: a reply that is not an HTTP status line is
  reported as "not HTTP", without its bytes.

Addresses inside ``settings.CHECK_ALLOWED_NETWORKS`` (comma-separated CIDRs in the environment,
empty by default) are allowed: tests and local demos use it to reach a server on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_REDIRECTS = 5
MAX_BODY = 1024 * 1024
REDIRECTS = (301, 302, 303, 307, 308)
USER_AGENT = "opsportal-check/1"

SHARED = ipaddress.ip_network("100.64.0.0/10")  # RFC 6598 carrier-grade NAT
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d


class OutboundError(Exception):
    """A request that did not produce an HTTP response; the message is safe to show."""


class OutboundRefused(OutboundError):
    """The address policy refused the target (nothing was sent)."""


class NotHTTP(OutboundError):
    """The server answered, but not with HTTP (what it said is deliberately not kept)."""


class DeadlineExceeded(OutboundError, TimeoutError):
    """The request's total time budget ran out."""


# --- the address policy ---------------------------------------------------------------------------
def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """``["10.1.0.0/16", "::1"]`` → networks; a bad entry is a configuration error."""
    networks = []
    for value in values:
        value = str(value).strip()
        if not value:
            continue
        try:
            networks.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"CHECK_ALLOWED_NETWORKS: {value!r} is not a network (e.g. 10.20.0.0/16)."
            ) from None
    return tuple(networks)


@functools.lru_cache(maxsize=8)
def _networks(values: tuple[str, ...]) -> tuple[Network, ...]:
    return parse_networks(values)


def allowed_networks() -> tuple[Network, ...]:
    value = getattr(settings, "CHECK_ALLOWED_NETWORKS", ()) or ()
    if isinstance(value, str):
        value = value.split(",")
    return _networks(tuple(str(v) for v in value))


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address a connection to ``ip`` really reaches, for the forms that carry one."""
    if ip.version != 6:
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    return None


def _category(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public address, or None when it is."""
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local (cloud metadata lives here)"
    if ip.is_multicast:
        return "multicast"
    if ip.version == 4 and ip in SHARED:
        return "shared address space (100.64.0.0/10)"
    if ip.version == 6 and ip in IPV4_COMPATIBLE:
        return "reserved (IPv4-compatible IPv6)"
    if ip.is_reserved:
        return "reserved"
    if ip.is_private:
        # RFC 1918, fc00::/7 and the special-purpose blocks Python lists as private.
        return "private"
    if not ip.is_global:
        return "not globally routable"
    return None


def _in_allowed(ip: IPAddress, networks: tuple[Network, ...]) -> bool:
    return any(ip.version == net.version and ip in net for net in networks)


def refusal(address: str | IPAddress, networks: tuple[Network, ...] | None = None) -> str | None:
    """Why the portal will not connect to ``address`` (a short phrase), or None if it may.

    ``networks`` are the ranges allowed anyway (default: ``CHECK_ALLOWED_NETWORKS``).
    """
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if ip.version == 6 and ip.scope_id:
        ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
    inner = _embedded_ipv4(ip)
    if networks is None:
        networks = allowed_networks()
    if _in_allowed(ip, networks) or (inner is not None and _in_allowed(inner, networks)):
        return None
    if inner is not None:
        reason = _category(inner)
        if reason:
            shown = f"::ffff:{inner}" if ip.ipv4_mapped is not None else str(ip)
            return f"{reason}, as {inner} inside {shown}"
        if ip.ipv4_mapped is not None or ip in NAT64:
            return None  # the IPv4 address inside decides for these forms
    return _category(ip)


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to for a TCP connection, in the resolver's order."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OutboundError(f"Could not resolve {host}: {getattr(exc, 'strerror', '')}") from None
    addresses: list[IPAddress] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise OutboundError(f"Could not resolve {host}: no IPv4 or IPv6 address.")
    return addresses


def vet(host: str, port: int, networks: tuple[Network, ...] | None = None) -> list[IPAddress]:
    """Resolve ``host`` and return its addresses when every one of them is allowed.

    One refused address refuses the host: a name that answers with a public and a private
    address is not let through on the public one (the resolver's order is not ours to trust).
    """
    addresses = resolve(host, port)
    for ip in addresses:
        reason = refusal(ip, networks)
        if reason:
            what = f"{host} is" if str(ip) == host else f"{host} ({ip}) resolves to"
            raise OutboundRefused(
                f"{what} a non-public address ({reason}); the portal does not connect there. "
                "Whoever runs the portal can allow a network with CHECK_ALLOWED_NETWORKS."
            )
    return addresses


# --- connections pinned to a vetted address -------------------------------------------------------
class PinnedHTTPConnection(http.client.HTTPConnection):
    """An ``http.client`` connection whose socket goes to addresses checked beforehand.

    ``host`` stays the URL's host, so the ``Host`` header is the one the server expects; only
    :meth:`connect` (the documented hook that opens the socket) is replaced, and it never
    resolves a name again.
    """

    def __init__(self, host: str, port: int, *, addresses: list[IPAddress], timeout: float):
        super().__init__(host, port, timeout=timeout)
        self.addresses = list(addresses)
        self.peer: IPAddress | None = None

    def connect(self) -> None:
        last: OSError | None = None
        for ip in self.addresses:
            family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(self.timeout)
                sock.connect((str(ip), self.port))
            except OSError as exc:
                sock.close()
                last = exc
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock, self.peer = sock, ip
            return
        raise last or OSError("no address to connect to")


class PinnedHTTPSConnection(PinnedHTTPConnection):
    """TLS over the pinned socket: SNI and the certificate check use the URL's host name."""

    default_port = 443

    def __init__(self, *args, context: ssl.SSLContext | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.tls = context or ssl.create_default_context()

    def connect(self) -> None:
        super().connect()
        self.sock = self.tls.wrap_socket(self.sock, server_hostname=self.host)


@dataclass
class Response:
    status: int
    body: bytes
    seconds: float
    url: str
    peer: str


def _remaining(deadline: float | None, timeout: float) -> float:
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlineExceeded("The check's time budget ran out.")
    return min(timeout, left)


def _cut_off(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed: nothing left to cut
        sock.shutdown(socket.SHUT_RDWR)


def _get(
    url: str,
    *,
    timeout: float,
    deadline: float | None,
    max_body: int,
    headers: dict,
    networks: tuple[Network, ...] | None,
    context: ssl.SSLContext | None,
) -> tuple[int, bytes, str | None, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundRefused(f"{parts.scheme or 'a URL without a scheme'}: only http(s) URLs.")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = vet(parts.hostname, port, networks)
    left = _remaining(deadline, timeout)
    if parts.scheme == "https":
        conn = PinnedHTTPSConnection(
            parts.hostname, port, addresses=addresses, timeout=left, context=context
        )
    else:
        conn = PinnedHTTPConnection(parts.hostname, port, addresses=addresses, timeout=left)
    watchdog = None
    try:
        conn.connect()
        # getresponse() drops conn.sock for a response that closes the connection, while the
        # body is still read from this socket: keep it. Each read waits at most ``timeout``; a
        # server dripping bytes slower than that still cannot outlast ``deadline``, because the
        # watchdog shuts the socket down when it passes.
        sock = conn.sock
        if deadline is not None:
            left = max(0.0, deadline - time.monotonic())
            watchdog = threading.Timer(left, _cut_off, (sock,))
            watchdog.daemon = True
            watchdog.start()
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request("GET", path, headers={"User-Agent": USER_AGENT, **headers})
        try:
            resp = conn.getresponse()
        except http.client.HTTPException:
            _remaining(deadline, timeout)
            # Whatever a non-HTTP service says (a database banner, an SMTP greeting, ...) stays
            # out of results, pages, exports and the audit log.
            raise NotHTTP(
                f"{parts.hostname}:{port} did not answer with HTTP; nothing it sent is kept."
            ) from None
        body = bytearray()
        while len(body) < max_body and not resp.isclosed():
            sock.settimeout(_remaining(deadline, timeout))
            chunk = resp.read(min(64 * 1024, max_body - len(body)))
            if not chunk:
                break
            body += chunk
        _remaining(deadline, timeout)  # a read cut short by the watchdog is not a whole body
        return resp.status, bytes(body), resp.getheader("Location"), str(conn.peer)
    except (OSError, http.client.HTTPException) as exc:
        _remaining(deadline, timeout)  # raises DeadlineExceeded when that is what happened
        if isinstance(exc, http.client.HTTPException):
            raise NotHTTP(f"{parts.hostname}:{port} broke off its HTTP answer.") from None
        raise
    finally:
        if watchdog is not None:
            watchdog.cancel()
        conn.close()


def fetch(
    url: str,
    *,
    timeout: float,
    deadline: float | None = None,
    permit: Callable[[str], None] | None = None,
    max_redirects: int = MAX_REDIRECTS,
    max_body: int = MAX_BODY,
    headers: dict | None = None,
    networks: tuple[Network, ...] | None = None,
    context: ssl.SSLContext | None = None,
) -> Response:
    """GET ``url`` under the address policy, following up to ``max_redirects`` redirects.

    ``permit(url)`` runs before every hop (the first included) and raises to stop there: the
    caller's own rule (runbook checks allow only configured origins). ``timeout`` bounds each
    socket operation, ``deadline`` (a ``time.monotonic()`` value) the whole request.
    ``networks`` replaces ``CHECK_ALLOWED_NETWORKS`` for a caller with its own setting (see
    :func:`parse_networks`); ``context`` the default TLS context (the system's trust store).
    """
    started = time.perf_counter()
    for _ in range(max_redirects + 1):
        if permit is not None:
            permit(url)
        status, body, location, peer = _get(
            url,
            timeout=timeout,
            deadline=deadline,
            max_body=max_body,
            headers=headers or {},
            networks=networks,
            context=context,
        )
        if status in REDIRECTS and location:
            url = urljoin(url, location)
            continue
        return Response(status, body, time.perf_counter() - started, url, peer)
    raise OutboundError(f"More than {max_redirects} redirects.")

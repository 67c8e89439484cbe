"""The outbound address policy (opsportal/outbound.py) on its own: which addresses are refused,
that every resolved address counts, that the connection goes to the address that was checked,
and that redirects and deadlines are handled hop by hop."""

import ssl
import time

import pytest
from django.core.exceptions import ImproperlyConfigured

from opsportal import outbound
from tests.netservers import (
    drip,
    fake_dns,
    http_server,
    https_server,
    recorded_connections,
    self_signed,
)


@pytest.fixture(autouse=True)
def no_allowed_networks(settings):
    settings.CHECK_ALLOWED_NETWORKS = []


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback, as 127.0.0.1 inside ::ffff:127.0.0.1"),
        ("::ffff:10.0.0.5", "private, as 10.0.0.5"),
        ("64:ff9b::7f00:1", "loopback, as 127.0.0.1"),  # NAT64
        ("2002:a9fe:a9fe::1", "link-local"),  # 6to4 of 169.254.169.254
        ("::127.0.0.1", "reserved"),  # IPv4-compatible, deprecated
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("fe80::1", "link-local"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("100.64.0.1", "shared"),
        ("100.127.255.254", "shared"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("0.0.0.0", "unspecified"),  # noqa: S104
        ("::", "unspecified"),
        ("192.0.2.10", "private"),  # documentation ranges are special-purpose too
        ("2001:db8::1", "private"),
    ],
)
def test_refused_addresses(address, reason):
    assert reason in (outbound.refusal(address) or "")


@pytest.mark.parametrize(
    "address",
    ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"],
)
def test_public_addresses_pass(address):
    assert outbound.refusal(address) is None


def test_allowed_networks_open_a_range_and_nothing_else(settings):
    settings.CHECK_ALLOWED_NETWORKS = ["127.0.0.2/32", "10.20.0.0/16", "::1/128"]
    assert outbound.refusal("127.0.0.2") is None
    assert outbound.refusal("::ffff:127.0.0.2") is None
    assert outbound.refusal("10.20.3.4") is None
    assert outbound.refusal("::1") is None
    assert "loopback" in outbound.refusal("127.0.0.1")
    assert "private" in outbound.refusal("10.21.0.1")
    assert "link-local" in outbound.refusal("169.254.169.254")


def test_allowed_networks_typo_is_a_configuration_error():
    with pytest.raises(ImproperlyConfigured, match="not a network"):
        outbound.parse_networks(["10.0.0.0/8", "10.0.0.0/33"])


def test_one_refused_address_refuses_the_name(monkeypatch):
    fake_dns(monkeypatch, {"mixed.example.test": ["93.184.216.34", "10.0.0.7"]})
    with pytest.raises(outbound.OutboundRefused, match=r"mixed.example.test \(10.0.0.7\).*private"):
        outbound.vet("mixed.example.test", 443)


def test_localhost_is_refused_without_connecting(monkeypatch):
    with (
        recorded_connections(monkeypatch) as attempts,
        pytest.raises(outbound.OutboundRefused, match="loopback"),
    ):
        outbound.fetch("http://localhost:9/", timeout=1)
    assert attempts == []


def test_the_connection_goes_to_the_checked_address(settings, monkeypatch):
    """A resolver that answers differently the second time (DNS rebinding) is not asked again:
    the socket goes to the vetted address and the Host header keeps the name."""
    settings.CHECK_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    with http_server("127.0.0.2") as public, http_server("127.0.0.1", public.port) as internal:
        asked = fake_dns(monkeypatch, {"pin.example.test": [["127.0.0.2"], ["127.0.0.1"]]})
        resp = outbound.fetch(f"http://pin.example.test:{public.port}/ok", timeout=2)
    assert resp.status == 200 and resp.peer == "127.0.0.2"
    assert asked == ["pin.example.test"]
    assert public.hits == [("/ok", f"pin.example.test:{public.port}")]
    assert internal.hits == []


def test_every_redirect_hop_is_vetted_again(settings, monkeypatch):
    settings.CHECK_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    routes = {"/hop": (302, b"", {"Location": "/ok"})}
    with (
        http_server("127.0.0.2", routes=routes) as public,
        http_server("127.0.0.1", public.port) as internal,
    ):
        fake_dns(monkeypatch, {"hop.example.test": [["127.0.0.2"], ["127.0.0.1"]]})
        with pytest.raises(outbound.OutboundRefused, match="loopback"):
            outbound.fetch(f"http://hop.example.test:{public.port}/hop", timeout=2)
    assert [path for path, _ in public.hits] == ["/hop"]
    assert internal.hits == []


def test_redirects_are_bounded(settings):
    settings.CHECK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    routes = {"/loop": (302, b"", {"Location": "/loop"})}
    with (
        http_server(routes=routes) as server,
        pytest.raises(outbound.OutboundError, match="More than 3 redirects"),
    ):
        outbound.fetch(f"{server.url}/loop", timeout=2, max_redirects=3)
    assert len(server.hits) == 4


def test_a_server_dripping_bytes_cannot_outlast_the_deadline(settings):
    settings.CHECK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    with http_server(routes={"/drip": lambda h: drip(h, chunks=40, every=0.1)}) as server:
        started = time.monotonic()
        with pytest.raises(outbound.DeadlineExceeded):
            # Each byte comes well inside the per-read timeout; only the deadline stops it.
            outbound.fetch(f"{server.url}/drip", timeout=2, deadline=time.monotonic() + 0.8)
    assert time.monotonic() - started < 1.8


def test_only_http_and_https():
    with pytest.raises(outbound.OutboundRefused, match="only http"):
        outbound.fetch("gopher://example.com/", timeout=1)


def test_tls_goes_to_the_checked_address_with_the_names_sni_and_certificate(
    settings, monkeypatch, tmp_path
):
    settings.CHECK_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    cert, key, trust = self_signed(tmp_path, "pin.example.test")
    with https_server("127.0.0.2", cert, key) as srv:
        answers = {"pin.example.test": [["127.0.0.2"], ["127.0.0.1"]]}
        fake_dns(monkeypatch, {**answers, "other.example.test": ["127.0.0.2"]})
        resp = outbound.fetch(f"https://pin.example.test:{srv.port}/ok", timeout=2, context=trust)
        assert (resp.status, resp.peer) == (200, "127.0.0.2")
        assert srv.sni == ["pin.example.test"]
        assert srv.hits == [("/ok", f"pin.example.test:{srv.port}")]
        # The certificate is checked against the URL's name, not the address connected to.
        with pytest.raises(ssl.SSLCertVerificationError):
            outbound.fetch(f"https://other.example.test:{srv.port}/ok", timeout=2, context=trust)

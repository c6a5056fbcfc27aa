"""The SSRF guard of destinations that call a URL a user gave (webhook, CRM, SMS APIs).

A URL is allowed when its scheme is ``https`` (``http`` only to a network the operator allowed),
and every address its host resolves to is a public unicast address, or lies in a network the
operator allowed (``PROFILO_ACTIVATION_ALLOW_NETWORKS``). Loopback, private (RFC 1918, ULA),
link-local (the cloud metadata address 169.254.169.254), carrier-grade NAT, multicast, reserved
and unspecified addresses are refused, as are IPv4-mapped IPv6 forms of them and odd spellings
(``2130706433``, ``0177.0.0.1``), which the resolver turns into the address they hide. Public
addresses may be reached on the usual web ports only.

The caller connects to the address the guard resolved (:attr:`Target.address`), never resolving
the name again, so a DNS answer that changes between the check and the connection (rebinding)
cannot redirect it; it follows no redirects, and checks again before every attempt.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from profilo.errors import ConfigError

__all__ = ["NETWORK_SETTING", "NetworkPolicy", "Target", "UnsafeTarget", "parse_networks"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

NETWORK_SETTING = "_allow_networks"
"""The settings key through which the sync engine hands a destination the operator's allow list
(users cannot set keys that start with ``_``: the allow list is the operator's, not theirs)."""

PUBLIC_PORTS = frozenset({80, 443, 8080, 8443})
"""Ports a public address may be reached on; an allowed network may use any port."""


class UnsafeTarget(ConfigError):
    """A URL the SSRF guard refuses (the message says why)."""


def parse_networks(text: str | Iterable[str]) -> tuple[IPNetwork, ...]:
    """Networks from ``"127.0.0.1/32, ::1/128"`` or a list of CIDRs."""
    items = text.split(",") if isinstance(text, str) else list(text)
    networks = []
    for item in items:
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(f"invalid network {item!r} in the SSRF allow list") from None
    return tuple(networks)


def _system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeTarget(f"cannot resolve host {host!r}: {exc}") from None
    return [str(info[4][0]) for info in infos]


def _plain(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv4-mapped or -compatible IPv6 address hides, else the address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
    return address


def _why_blocked(address: IPAddress) -> str | None:
    plain = _plain(address)
    for check, why in (
        ("is_unspecified", "unspecified"),
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_private", "private"),
        ("is_reserved", "reserved"),
    ):
        if getattr(plain, check) or getattr(address, check):
            return why
    if not plain.is_global:
        return "not public"  # e.g. carrier-grade NAT 100.64.0.0/10
    return None


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect, and the name to send as Host and TLS server name."""

    url: str
    scheme: str
    host: str
    port: int
    address: str
    path: str

    @property
    def pinned_url(self) -> str:
        """The URL with the checked address in place of the name."""
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{host}:{self.port}{self.path}"

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"


@dataclass(frozen=True)
class NetworkPolicy:
    """What outbound calls to user-given URLs may reach."""

    allow: tuple[IPNetwork, ...] = ()
    public_ports: frozenset[int] = PUBLIC_PORTS
    resolver: Resolver = field(default=_system_resolver, compare=False, repr=False)

    @classmethod
    def from_text(cls, allow: str | Iterable[str]) -> NetworkPolicy:
        return cls(allow=parse_networks(allow))

    @classmethod
    def for_destination(cls, settings: Mapping[str, Any]) -> NetworkPolicy:
        """The policy the sync engine put in a destination's settings (public only if none)."""
        return cls.from_text(settings.get(NETWORK_SETTING) or ())

    def _allowed(self, address: IPAddress) -> bool:
        plain = _plain(address)
        return any(plain in net or address in net for net in self.allow if net.version in (4, 6))

    def check(self, url: str) -> Target:
        """The target of ``url`` if every address of its host may be reached; else UnsafeTarget."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("https", "http"):
            raise UnsafeTarget(f"refused URL {url!r}: scheme {scheme or '(none)'!r}; use https")
        if parts.username or parts.password:
            raise UnsafeTarget(f"refused URL {url!r}: put credentials in headers, not the URL")
        host = parts.hostname
        if not host:
            raise UnsafeTarget(f"refused URL {url!r}: no host")
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            raise UnsafeTarget(f"refused URL {url!r}: invalid port") from None
        addresses = self.resolver(host, port)
        if not addresses:
            raise UnsafeTarget(f"refused URL {url!r}: host {host!r} has no address")
        for text in addresses:
            address = ipaddress.ip_address(text.split("%", 1)[0])
            if self._allowed(address):
                continue
            why = _why_blocked(address)
            if why is not None:
                raise UnsafeTarget(
                    f"refused URL {url!r}: {host!r} resolves to {why} address {address}"
                    " (allow its network with PROFILO_ACTIVATION_ALLOW_NETWORKS if it is yours)"
                )
            if scheme != "https":
                raise UnsafeTarget(f"refused URL {url!r}: use https for a public address")
            if port not in self.public_ports:
                ports = ", ".join(str(p) for p in sorted(self.public_ports))
                raise UnsafeTarget(f"refused URL {url!r}: port {port}; public ports: {ports}")
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        return Target(
            url=url,
            scheme=scheme,
            host=host,
            port=port,
            address=addresses[0].split("%", 1)[0],
            path=path,
        )

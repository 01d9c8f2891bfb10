"""The SSRF guard: which network addresses a URL import may connect to.

A host is resolved to all of its addresses and refused if any of them is loopback, private,
link-local, multicast, reserved, unspecified, a cloud metadata service, or otherwise not
globally routable, unless the admin's allowlist (``import_allowed_hosts``: host names, IP
addresses and CIDR networks) names the host or covers the address. The caller connects to an
address this guard returned, so DNS cannot answer differently between check and connect.
Imports are checked when they are requested (a refusal is a 422 then; a host that does not
resolve yet is let through) and again on every fetch and redirect.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Instance metadata services (AWS, GCP, Azure, OpenStack on IPv4; AWS on IPv6).
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)

SETTING = "MODELYARD_IMPORT_ALLOWED_HOSTS"


class SourceError(OSError):
    """A source could not be read: refused by policy, unreachable, or answered with an error.
    Its message becomes the task's error; it never reaches a transport as such."""


class HostNotFound(SourceError):
    """A host did not resolve. At submit time that is no refusal (it may resolve when the task
    runs); at fetch time it fails the task like any other SourceError."""


def _rule(address: IPAddress) -> str | None:
    """Why an address is refused by default, or None if it is a public address."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata service address"
    checks: list[tuple[str, bool]] = [
        ("a loopback address", address.is_loopback),
        ("the unspecified address", address.is_unspecified),
        ("a link-local address", address.is_link_local),
        ("a multicast address", address.is_multicast),
        ("a reserved address", address.is_reserved),
        ("a private address", address.is_private),
        ("not a globally routable address", not address.is_global),
    ]
    return next((why for why, hit in checks if hit), None)


Resolver = Callable[[str, int], list[str]]


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order, without repeats."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise HostNotFound(f"cannot resolve host {host!r}: {exc}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True, kw_only=True)
class AddressPolicy:
    """The allowlist; everything public is allowed, everything else only when listed."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()
    resolver: Resolver = resolve

    @classmethod
    def parse(cls, spec: str, resolver: Resolver = resolve) -> AddressPolicy:
        """``"models.internal, 10.0.0.0/8, 127.0.0.1"``: host names, addresses and networks,
        separated by commas. Raises ValueError naming a malformed entry."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in spec.split(","):
            entry = raw.strip().lower()
            if not entry:
                continue
            if entry[0].isdigit() or ":" in entry:
                try:
                    networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                except ValueError as exc:
                    raise ValueError(
                        f"{SETTING}: {entry!r} is not an address or CIDR: {exc}"
                    ) from None
            else:
                hosts.add(entry.rstrip("."))
        return cls(hosts=frozenset(hosts), networks=tuple(networks), resolver=resolver)

    def addresses(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for ``host``; SourceError naming the rule if any
        address it resolves to is refused."""
        name = host.lower().strip("[]").rstrip(".")
        found = self.resolver(name, port)
        if not found:
            raise HostNotFound(f"cannot resolve host {host!r}: no addresses")
        if name in self.hosts:
            return found
        for text in found:
            address = ipaddress.ip_address(text.split("%", 1)[0])
            mapped = getattr(address, "ipv4_mapped", None)
            effective: IPAddress = mapped or address
            if any(effective in network for network in self.networks):
                continue
            why = _rule(effective)
            if why is not None:
                shown = host if name == str(effective) else f"{host} ({effective})"
                raise SourceError(
                    f"refused by the SSRF guard: {shown} is {why}; an admin may allow it "
                    f"with import_allowed_hosts ({SETTING})"
                )
        return found

"""What a key's address allowlist may hold (checked by the engine on ``CreateKey`` and
``SetKey``, so a journal only ever holds valid lists).

An entry is a network in its normalized text form, as :mod:`ipaddress` writes it: IPv4
or IPv6, prefix length always given, no host bits set (``10.0.0.0/8``, ``127.0.0.2/32``,
``2001:db8::/32``). The edge (:func:`normalize_networks`) turns operator input such as
``127.0.0.2`` into that form; the engine refuses anything else, so the same text always
means the same network. At most ``MAX_ALLOW_IPS`` entries, no duplicates.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from ceres.domain.errors import CeresError, ErrorCode

MAX_ALLOW_IPS = 64


def normalize_networks(entries: Iterable[str]) -> tuple[str, ...]:
    """Operator input (addresses or CIDRs, surrounding blanks ignored) in normalized form,
    duplicates dropped, order kept; CeresError 40006 naming ``allow_ips`` for a bad entry
    (host bits set included: ``10.0.0.1/8`` is refused, not silently widened)."""
    out: list[str] = []
    for raw in entries:
        text = raw.strip()
        if not text:
            continue
        try:
            net = str(ipaddress.ip_network(text))
        except ValueError as exc:
            raise CeresError(ErrorCode.INVALID_VALUE, f"{text!r} is not an address or network: {exc}",
                             "allow_ips") from None
        if net not in out:
            out.append(net)
    check_networks(out)
    return tuple(out)


def check_networks(entries: Iterable[str]) -> None:
    """Every entry a normalized network, no duplicates, at most ``MAX_ALLOW_IPS``."""
    seen: set[str] = set()
    for text in entries:
        try:
            normal: str | None = str(ipaddress.ip_network(text))
        except ValueError:
            normal = None
        if normal != text:
            raise CeresError(ErrorCode.INVALID_VALUE, f"{text!r} is not a network in normalized form "
                                                      "(e.g. 10.0.0.0/8)", "allow_ips")
        if text in seen:
            raise CeresError(ErrorCode.INVALID_VALUE, f"{text} is listed twice", "allow_ips")
        seen.add(text)
    if len(seen) > MAX_ALLOW_IPS:
        raise CeresError(ErrorCode.INVALID_VALUE, f"at most {MAX_ALLOW_IPS} networks", "allow_ips")

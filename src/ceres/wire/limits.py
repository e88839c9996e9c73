"""Connection caps shared by every public port, and the HTTP refusal they answer with.

* a total cap (``capacity``: what the file-descriptor budget allows, see
  :mod:`ceres.wire.fdbudget`): past it a new connection is answered 503 (code 503);
* a cap per client address: past it, 429 (code 42901);
* a cap per API key (REST connections that sent a signed request with the key, and
  19001/19003 sockets): past it, 429 (code 42901).

A refusal is a complete HTTP/1.1 response with the JSON envelope and ``Connection:
close``, never plain text and never an echo of the client's input. Refusals are counted
by code (``on_reject``, which logs a class at its 1st, 10th, 100th... occurrence), so a
flood makes a few log lines, not one per attempt. Accept errors (EMFILE, ENFILE...) are
counted and logged at most once per ``LOG_INTERVAL_S``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from ceres.domain.errors import CeresError, ErrorCode
from ceres.wire import codec

log = logging.getLogger("ceres.limits")
LOG_INTERVAL_S = 10.0


def http_error(err: CeresError) -> bytes:
    """A whole HTTP/1.1 error response carrying the envelope; the connection then closes."""
    status = err.error.http_status if err.error.http_status >= 400 else 400
    body = codec.error(err)
    return (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


class ConnectionLimits:
    """Counts of open connections (total, per address, per key) and their caps."""

    def __init__(self, *, capacity: int = 1 << 20, max_per_ip: int = 1 << 20, max_per_key: int = 1 << 20,
                 on_reject: Callable[[str], None] | None = None) -> None:
        self.capacity = capacity
        self.max_per_ip = max_per_ip
        self.max_per_key = max_per_key
        self.on_reject = on_reject or (lambda code: None)
        self.total = 0
        self.by_ip: dict[str, int] = {}
        self.by_key: dict[str, int] = {}
        self.open: set[Any] = set()  # the connections themselves, for shutdown
        self.accept_errors = 0
        self._last_log = -LOG_INTERVAL_S

    # --- addresses ----------------------------------------------------------------------
    def admit(self, ip: str) -> CeresError | None:
        """Count a new connection from ``ip``, or say why it is refused."""
        if self.total >= self.capacity:
            return CeresError(ErrorCode.BUSY, f"server at its connection capacity ({self.capacity}); retry later")
        n = self.by_ip.get(ip, 0)
        if n >= self.max_per_ip:
            return CeresError(ErrorCode.TOO_MANY_CONNECTIONS,
                              f"more than {self.max_per_ip} connections from one address")
        self.total += 1
        self.by_ip[ip] = n + 1
        return None

    def release(self, ip: str, key: str | None) -> None:
        self.total -= 1
        n = self.by_ip.get(ip, 0) - 1
        if n > 0:
            self.by_ip[ip] = n
        else:
            self.by_ip.pop(ip, None)
        if key is not None:
            k = self.by_key.get(key, 0) - 1
            if k > 0:
                self.by_key[key] = k
            else:
                self.by_key.pop(key, None)

    # --- keys ---------------------------------------------------------------------------
    def check_key(self, api_key: str) -> None:
        if self.by_key.get(api_key, 0) >= self.max_per_key:
            raise CeresError(ErrorCode.TOO_MANY_CONNECTIONS,
                             f"more than {self.max_per_key} connections with one api_key")

    def bind_key(self, api_key: str) -> None:
        self.by_key[api_key] = self.by_key.get(api_key, 0) + 1

    # --- accounting ---------------------------------------------------------------------
    def refused(self, code: str) -> None:
        self.on_reject(code)

    def accept_failed(self, exc: OSError, now: float | None = None) -> None:
        """An ``accept`` failed for want of resources: count it; one log line per interval."""
        self.accept_errors += 1
        now = time.monotonic() if now is None else now
        if now - self._last_log >= LOG_INTERVAL_S:
            log.error("accept failed: %s (%d times so far, logged at most every %.0f s); pausing accepts briefly",
                      exc.strerror or exc, self.accept_errors, LOG_INTERVAL_S)
            self._last_log = now

    def close_all(self) -> None:
        """Abort every connection still open (shutdown)."""
        for conn in list(self.open):
            conn.abort()

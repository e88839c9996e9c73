"""``GET /metrics``: Prometheus text exposition of the server's counters and gauges.

Counters: commands journaled, batches, journal group commits and bytes, rejected
requests by error code. Gauges: sequence numbers (applied, durable, projected), journal
lag, last and max fsync time, last group size, open orders, connections, batches in flight.
"""

from __future__ import annotations

import logging
from typing import Any

from ceres.domain.money import format_scaled

log = logging.getLogger("ceres.rejects")
_LOG_AT = frozenset(10**k for k in range(12))


class Metrics:
    def __init__(self, node: Any, registry: Any) -> None:
        self.node = node
        self.registry = registry
        self.rejects: dict[str, int] = {}
        self.gauges: dict[str, Any] = {}  # name -> callable returning a number (extensions)

    def reject(self, code: str) -> None:
        """Count a rejected request; log its class at the 1st, 10th, 100th... occurrence
        (one line per class, not one per request)."""
        n = self.rejects[code] = self.rejects.get(code, 0) + 1
        if n in _LOG_AT:
            log.info("rejected requests with code %s: %d so far", code, n)

    def render(self) -> str:
        seq = self.node.sequencer
        jc = self.node.committer
        lines: list[str] = []

        def metric(name: str, kind: str, help_: str, value: Any, labels: str = "") -> None:
            lines.append(f"# HELP ceres_{name} {help_}")
            lines.append(f"# TYPE ceres_{name} {kind}")
            lines.append(f"ceres_{name}{labels} {value}")

        metric("commands_total", "counter", "Commands applied and journaled.", seq.commands)
        metric("batches_total", "counter", "Sequencer batches (one journal frame each).", seq.batches)
        metric("journal_groups_total", "counter", "Group commits (one fsync each).", jc.groups)
        metric("journal_bytes_total", "counter", "Bytes written to the journal.", jc.bytes)
        metric("journal_group_frames_last", "gauge", "Frames in the last group commit.", jc.last_group_frames)
        metric("journal_fsync_seconds_last", "gauge", "Duration of the last write+fsync.", f"{jc.last_fsync_s:.6f}")
        metric("journal_fsync_seconds_max", "gauge", "Longest write+fsync so far.", f"{jc.max_fsync_s:.6f}")
        metric("seq", "gauge", "Last applied sequence number.", seq.seq)
        metric("durable_seq", "gauge", "Last durable sequence number.", seq.durable_seq)
        metric("projected_seq", "gauge", "Last sequence number in the projection store.", seq.projected_seq)
        metric("journal_lag", "gauge", "Applied but not yet durable commands.", seq.seq - seq.durable_seq)
        metric("batches_in_flight", "gauge", "Batches waiting for durability.", len(seq._inflight))
        metric("open_orders", "gauge", "Open orders in the engine.", len(self.node.engine.open_orders))
        metric("connections", "gauge", "Open WebSocket connections.", self.registry.count)
        lines.append("# HELP ceres_rejects_total Rejected requests by error code.")
        lines.append("# TYPE ceres_rejects_total counter")
        for code, n in sorted(self.rejects.items()):
            lines.append(f'ceres_rejects_total{{code="{code}"}} {n}')
        lines.append("# HELP ceres_insurance_fund Contract insurance fund by venue and currency "
                     "(negative: deficits it could not cover).")
        lines.append("# TYPE ceres_insurance_fund gauge")
        for (venue, cur), amount in sorted(self.node.engine.contracts.insurance.items()):
            dec = self.node.engine.currencies.get(cur, 0)
            lines.append(f'ceres_insurance_fund{{venue="{venue}",currency="{cur}"}} {format_scaled(amount, dec)}')
        for name, fn in sorted(self.gauges.items()):
            metric(name, "gauge", name.replace("_", " ") + ".", fn())
        return "\n".join(lines) + "\n"

"""``GET /metrics``: Prometheus text exposition of the server's counters and gauges.

Counters: commands journaled, batches, the journal writer's own figures (group commits,
bytes, fsync times for the file journal), rejected requests by error code, unexpected
exceptions by kind (``ceres.wire.faults``). Gauges:
sequence numbers (applied, durable, projected), journal lag, open orders, connections,
batches in flight, the insurance fund, the money audit per currency
(``ceres_audit_*``, ``ceres_conservation_ok``: ``gateway.money_audit``), and extra gauges
and counters the wiring adds
(notices sent, market pushes, TCP connections and their capacity, accept errors,
WebSocket clients dropped for not reading).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from ceres.domain.money import format_scaled
from ceres.engine.core import Engine
from ceres.gateway.money_audit import audit_metric_lines
from ceres.pipeline.journal import JournalWriter
from ceres.pipeline.sequencer import Sequencer
from ceres.wire.ws import Registry

log = logging.getLogger("ceres.rejects")
_LOG_AT = frozenset(10**k for k in range(12))


class Metrics:
    def __init__(self, sequencer: Sequencer, writer: JournalWriter, engine: Engine, registry: Registry,
                 gauges: Mapping[str, Callable[[], float]] | None = None,
                 counters: Mapping[str, Callable[[], float]] | None = None,
                 internal_errors: Mapping[str, int] | None = None,
                 venue_health: Callable[[], Mapping[str, Mapping[str, Any]]] | None = None) -> None:
        self.sequencer = sequencer
        self.writer = writer
        self.engine = engine
        self.registry = registry
        self.gauges = dict(gauges or {})
        self.counters = dict(counters or {})
        self.internal_errors = internal_errors if internal_errors is not None else {}  # live: by exception kind
        self.rejects: dict[str, int] = {}
        self.venue_health = venue_health or dict

    def reject(self, code: str) -> None:
        """Count a rejected request; log its class at the 1st, 10th, 100th... occurrence
        (one line per class, not one per request)."""
        n = self.rejects[code] = self.rejects.get(code, 0) + 1
        if n in _LOG_AT:
            log.info("rejected requests with code %s: %d so far", code, n)

    def render(self) -> str:
        seq = self.sequencer
        lines: list[str] = []

        def metric(name: str, kind: str, help_: str, value: Any, labels: str = "") -> None:
            lines.append(f"# HELP ceres_{name} {help_}")
            lines.append(f"# TYPE ceres_{name} {kind}")
            lines.append(f"ceres_{name}{labels} {f'{value:.6f}' if isinstance(value, float) else value}")

        metric("commands_total", "counter", "Commands applied and journaled.", seq.commands)
        metric("batches_total", "counter", "Sequencer batches (one journal frame each).", seq.batches)
        for name, kind, help_, value in self.writer.stats():
            metric(name, kind, help_, value)
        metric("seq", "gauge", "Last applied sequence number.", seq.seq)
        metric("durable_seq", "gauge", "Last durable sequence number.", seq.durable_seq)
        metric("projected_seq", "gauge", "Last sequence number in the projection store.", seq.projected_seq)
        metric("journal_lag", "gauge", "Applied but not yet durable commands.", seq.seq - seq.durable_seq)
        metric("batches_in_flight", "gauge", "Batches waiting for durability.", seq.in_flight)
        metric("journal_degraded", "gauge", "1 while the journal cannot write (commands refused, retrying).",
               int(seq.degraded is not None))
        metric("journal_degradations_total", "counter", "Times the journal stopped writing.", seq.journal_failures)
        metric("history_degraded", "gauge", "1 while the history store cannot write (retrying).",
               int(seq.projection_failed is not None))
        background = seq.background
        metric("snapshot_failures_total", "counter", "Snapshots that could not be written.",
               getattr(background, "snapshot_failures", 0))
        metric("history_write_failures_total", "counter", "Failed history store writes (each retried).",
               getattr(background, "projection_failures", 0))
        metric("open_orders", "gauge", "Open orders in the engine.", len(self.engine.open_orders))
        metric("connections", "gauge", "Open WebSocket connections.", self.registry.count)
        lines.append("# HELP ceres_rejects_total Rejected requests by error code.")
        lines.append("# TYPE ceres_rejects_total counter")
        for code, n in sorted(self.rejects.items()):
            lines.append(f'ceres_rejects_total{{code="{code}"}} {n}')
        lines.append("# HELP ceres_internal_errors_total Unexpected exceptions (answered 500) by kind.")
        lines.append("# TYPE ceres_internal_errors_total counter")
        for kind, n in sorted(self.internal_errors.items()):
            lines.append(f'ceres_internal_errors_total{{kind="{kind}"}} {n}')
        lines.append("# HELP ceres_insurance_fund Contract insurance fund by venue and currency.")
        lines.append("# TYPE ceres_insurance_fund gauge")
        for (venue, cur), amount in sorted(self.engine.contracts.insurance.items()):
            dec = self.engine.currencies.get(cur, 0)
            lines.append(f'ceres_insurance_fund{{venue="{venue}",currency="{cur}"}} {format_scaled(amount, dec)}')
        lines += audit_metric_lines(self.engine)
        lines += venue_metric_lines(self.venue_health())
        for name, fn in sorted(self.gauges.items()):
            metric(name, "gauge", name.replace("_", " ") + ".", fn())
        for name, fn in sorted(self.counters.items()):
            metric(name, "counter", name.replace("_", " ") + ".", fn())
        return "\n".join(lines) + "\n"


VENUE_METRICS = (
    ("venue_connected", "gauge", "1 while the live venue answers (its last call reached it).", "connected"),
    ("venue_markets", "gauge", "Spot markets loaded from the live venue.", "markets"),
    ("venue_rtt_seconds", "gauge", "Round trip of the live venue's last call.", "rtt_ms"),
    ("venue_calls_total", "counter", "Calls made to the live venue.", "calls"),
    ("venue_errors_total", "counter", "Calls to the live venue that failed (the last one: /health).", "errors"),
    ("venue_orders_in_flight", "gauge", "Orders sent to the live venue and not yet answered.", "orders_in_flight"),
    ("venue_streams_up", "gauge", "Products' private streams at the live venue delivering.", "streams_up"),
    ("venue_streams_down", "gauge", "Products' private streams at the live venue down (polled meanwhile).",
     "streams_down"),
    ("venue_stream_failures_total", "counter", "Failures of products' private streams at the live venue.",
     "stream_failures"),
)


def venue_metric_lines(health: Mapping[str, Mapping[str, Any]]) -> list[str]:
    lines: list[str] = []
    for name, kind, help_, field in VENUE_METRICS if health else ():
        lines.append(f"# HELP ceres_{name} {help_}")
        lines.append(f"# TYPE ceres_{name} {kind}")
        for venue, h in sorted(health.items()):
            value = h[field]
            value = value / 1000 if field == "rtt_ms" else int(value)
            lines.append(f'ceres_{name}{{venue="{venue}"}} {value}')
    return lines

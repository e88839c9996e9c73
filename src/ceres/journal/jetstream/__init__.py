"""The journal on NATS JetStream (issue 12; being built): one stream per journal, frames as
messages, written by one epoch-fenced writer (``publisher``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ceres.journal.jetstream.journal import JetStreamJournal


def from_config(settings: Any, root: Path) -> JetStreamJournal:
    """The backend as ``[journal]`` configures it (``backend = "jetstream"``); ``root`` (the data
    directory: history store, keys) is created as the file backend would."""
    root.mkdir(parents=True, exist_ok=True)
    js = settings.jetstream
    return JetStreamJournal(list(js.servers), js.stream, replicas=js.replicas, timeout_s=js.timeout_ms / 1000,
                            lease_s=js.lease_ms / 1000)

"""What the ``ceres`` commands share: the consoles, the common options, loading the
configuration with the command line's overrides, and taking a stopped server's journal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from ceres.config import Config, ConfigError, load_config

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

ConfigOpt = typer.Option(None, "--config", "-c", help="TOML config file (defaults are embedded).")
DataDirOpt = typer.Option(None, "--data-dir", "-d", help="Data directory (default from config).")


def load(config: Path | None, data_dir: Path | None = None, **server: Any) -> Config:
    """The configuration of ``config`` (or the embedded defaults) with the command line's
    ``data_dir`` and ``[server]`` values; a config error ends the command (exit 2)."""
    overrides: dict[str, dict[str, Any]] = {}
    server = {k: v for k, v in server.items() if v is not None}
    if data_dir is not None:
        server["data_dir"] = str(data_dir)
    if server:
        overrides["server"] = server
    try:
        return load_config(config, overrides=overrides)
    except ConfigError as exc:
        err.print(f"[red]config error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None


def history_journal(cfg: Config, data_dir: Path | None = None) -> AbstractContextManager[Any]:
    """The journal to rebuild a history store from: a JetStream stream is read as it is (a
    cluster's leader keeps writing it; stop the projector or gateway that writes this store
    first); a data directory's journal is owned, so no server writes it meanwhile."""
    if cfg.journal.backend == "jetstream":
        from ceres.assembly import open_journal

        return nullcontext(open_journal(cfg, data_dir))
    return owned_journal(cfg, data_dir)


@contextmanager
def owned_journal(cfg: Config, data_dir: Path | None = None) -> Iterator[Any]:
    """The data directory's journal with ownership taken, released on leaving; a running
    server holds it, which ends the command (exit 2) saying so."""
    from ceres.assembly import open_journal
    from ceres.pipeline.journal import JournalLocked

    journal = open_journal(cfg, data_dir)
    try:
        journal.ownership.acquire()
    except JournalLocked as exc:
        err.print(f"{exc} (stop the server first)", style="red", markup=False)
        raise typer.Exit(2) from None
    try:
        yield journal
    finally:
        journal.ownership.release()

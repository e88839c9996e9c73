"""The ``ceres`` command line (typer + rich).

``serve`` runs the server. ``config show`` prints the effective configuration.
``verify``, ``rebuild`` and ``repair`` inspect and repair a data directory. ``products``, ``keys`` and
``accounts`` and ``venues`` are operator actions, ``audit`` shows the money per currency and whether it is
conserved: with the server running they go through its admin
endpoint (127.0.0.1, token file in the data directory); with it stopped they open the
data directory directly (locked, so the two can never both write).
"""

from __future__ import annotations

import asyncio
import functools
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from ceres.cli_keys import register as register_key_commands
from ceres.cli_support import ConfigOpt, DataDirOpt, err, history_journal, out, owned_journal
from ceres.cli_support import load as _config
from ceres.cli_venues import register as register_venue_commands
from ceres.config import Config, to_toml
from ceres.logsetup import configure_logging

if TYPE_CHECKING:
    from ceres.store.projection import Projection

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Ceres: an open trading-API server speaking the CoinCeres 2019 API.")
config_app = typer.Typer(no_args_is_help=True, help="Configuration.")
products_app = typer.Typer(no_args_is_help=True, help="Products (users or funds).")
keys_app = typer.Typer(no_args_is_help=True, help="API keys.")
accounts_app = typer.Typer(no_args_is_help=True, help="Balances, deposits and transfers.")
app.add_typer(config_app, name="config")
app.add_typer(products_app, name="products")
app.add_typer(keys_app, name="keys")
app.add_typer(accounts_app, name="accounts")
def _run(coro: Any) -> Any:
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.run(coro)


# --- serve ---------------------------------------------------------------------------------
@app.command()
def serve(config: Path | None = ConfigOpt, data_dir: Path | None = DataDirOpt,
          host: str | None = typer.Option(None, help="Interface for the public ports."),
          http_port: int | None = typer.Option(None, help="REST port (0 = any free port)."),
          trade_ws_port: int | None = typer.Option(None, help="biz_type WebSocket port."),
          notify_ws_port: int | None = typer.Option(None, help="Notice WebSocket port."),
          market_ws_port: int | None = typer.Option(None, help="Market WebSocket port."),
          admin_port: int | None = typer.Option(None, help="Admin port (127.0.0.1 only)."),
          port_base: int | None = typer.Option(None, help="Move all five ports together: REST at N, trade WS N+1, "
                                               "notices N+3, market N-997, admin N+9 (19000: the defaults)."),
          log_json: bool | None = typer.Option(None, "--log-json/--log-text", help="JSON log lines."),
          no_simulator: bool = typer.Option(False, "--no-simulator", help="No liquidity simulator."),
          role: str = typer.Option("all", help="all (one process) | engine | gateway | projector: the parts "
                                   "of a cluster on a JetStream journal (docs/cluster.md)."),
          ) -> None:
    """Start the server on the embedded defaults (or CONFIG)."""
    cfg = _config(config, data_dir, host=host, http_port=http_port, trade_ws_port=trade_ws_port,
                  notify_ws_port=notify_ws_port, market_ws_port=market_ws_port,
                  admin_port=admin_port, port_base=port_base, log_json=log_json)
    configure_logging(cfg.server.log_level, cfg.server.log_json)
    from ceres.keystore import KeyringError
    from ceres.pipeline.frames import JournalCorrupt
    from ceres.pipeline.journal import JournalLocked
    from ceres.roles import ROLES
    from ceres.roles import serve as run_server
    from ceres.store.projection import StoreUnavailable

    if role not in ROLES:
        err.print(f"[red]--role must be one of {', '.join(ROLES)}[/red]")
        raise typer.Exit(2)
    if role != "all" and cfg.journal.backend != "jetstream":
        err.print(f'--role {role} needs the JetStream journal ([journal] backend = "jetstream"): every '
                  "process of a cluster reads the same journal (docs/cluster.md)", style="red", markup=False)
        raise typer.Exit(2)
    try:
        code = _run(run_server(cfg, role=role, simulator=False if no_simulator else None))
    except JournalLocked as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    except KeyringError as exc:
        err.print(f"[red]refusing to start: {exc}[/red]", markup=False)
        raise typer.Exit(2) from None
    except JournalCorrupt as exc:
        err.print(f"[red]refusing to start: the journal is damaged:[/red] {exc}")
        _repair_hint(exc)
        raise typer.Exit(4) from None
    except (OSError, StoreUnavailable) as exc:
        err.print(f"[red]cannot start:[/red] {exc}")
        raise typer.Exit(2) from None
    raise typer.Exit(code)


@config_app.command("show")
def config_show(config: Path | None = ConfigOpt) -> None:
    """Print the effective configuration (TOML)."""
    out.print(to_toml(_config(config)), markup=False, highlight=False)


# --- data directory tools --------------------------------------------------------------------
@app.command()
def verify(data_dir: Path = typer.Argument(..., help="Data directory to check."),
           config: Path | None = ConfigOpt,
           full: bool = typer.Option(False, help="Also replay the whole journal from seq 1 "
                                     "(when retained) and compare state hashes.")) -> None:
    """Recover DATA_DIR read-only: snapshot used, records replayed, state hash."""
    from ceres.assembly import engine_factory, open_journal
    from ceres.pipeline.frames import JournalCorrupt
    from ceres.pipeline.recovery import recover

    cfg = _config(config, data_dir)
    journal = open_journal(cfg, data_dir)
    make_engine = engine_factory(cfg)
    try:
        rec = recover(journal, make_engine)
    except JournalCorrupt as exc:
        err.print(f"[red]journal damaged:[/red] {exc}")
        _repair_hint(exc)
        raise typer.Exit(4) from None
    problems = rec.engine.check()
    out.print(f"snapshot used:    {rec.snapshot_name or 'none'}")
    out.print(f"records replayed: {rec.replayed}")
    out.print(f"last seq:         {rec.last_seq}")
    if rec.torn_bytes:
        out.print(f"torn tail:        {rec.torn_bytes} bytes (cut at next start)")
    for s in rec.skipped_snapshots:
        out.print(f"skipped snapshot: {s}")
    out.print(f"state hash:       {rec.engine.state_hash()}")
    out.print(f"consistency:      {'ok' if not problems else '; '.join(problems[:5])}")
    ok = not problems
    if full:
        try:
            clean = recover(journal, make_engine, use_snapshots=False)
        except JournalCorrupt as exc:
            out.print(f"full replay:      not possible ({exc})")
        else:
            same = clean.engine.state_hash() == rec.engine.state_hash()
            out.print(f"full replay hash: {clean.engine.state_hash()} ({'matches' if same else 'DIFFERS'})")
            ok = ok and same
    raise typer.Exit(0 if ok else 1)


def _repair_hint(exc: Exception) -> None:
    from ceres.pipeline.frames import JournalDamaged

    err.print("Restore the data directory from a backup, or, accepting the loss of every record after "
              "the damage (acknowledged ones included):")
    seq = exc.after_seq if isinstance(exc, JournalDamaged) else "SEQ"
    err.print(f"  ceres repair DATA_DIR --truncate-after {seq}")


def _projection(cfg: Config, data_dir: Path | None) -> Projection:
    """The configured history store's writer, or exit 2 saying why it cannot be reached."""
    from ceres.assembly import open_projection
    from ceres.store.projection import StoreUnavailable

    try:
        return open_projection(cfg, data_dir)
    except StoreUnavailable as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


@app.command()
def repair(data_dir: Path = typer.Argument(..., help="Data directory to repair."),
           truncate_after: int = typer.Option(..., "--truncate-after", min=0,
                                              help="Keep the records up to this seq, drop the rest."),
           config: Path | None = ConfigOpt,
           yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation.")) -> None:
    """Cut the journal back to a seq (records and snapshots after it are dropped, acknowledged
    ones included), then rebuild the history store from what is left. Server must be stopped."""
    from ceres.assembly import engine_factory
    from ceres.pipeline.frames import JournalCorrupt
    from ceres.pipeline.recovery import recover_with_history

    cfg = _config(config, data_dir)
    with owned_journal(cfg, data_dir) as journal:
        projection = _projection(cfg, data_dir)  # before anything is cut: a store out of reach stops here
        if not yes:
            typer.confirm(f"Drop every record after seq {truncate_after} from {journal.describe()}?", abort=True)
        try:
            removed = journal.truncate_after(truncate_after)
        except ValueError as exc:
            err.print(f"[red]cannot truncate there:[/red] {exc}")
            raise typer.Exit(2) from None
        for line in removed:
            out.print(f"removed {line}", markup=False, highlight=False)
        projection.reset()
        try:
            report = recover_with_history(journal, engine_factory(cfg), projection)
        except JournalCorrupt as exc:
            err.print(f"[red]still damaged:[/red] {exc}")
            raise typer.Exit(4) from None
        finally:
            projection.close()
    out.print(f"journal now ends at seq {report.recovery.last_seq}; history rebuilt from it")


@app.command()
def rebuild(data_dir: Path | None = typer.Argument(None, help="Data directory."),
            config: Path | None = ConfigOpt,
            from_scratch: bool = typer.Option(False, help="Empty the history store first.")) -> None:
    """Bring the history store ([store]: SQLite or PostgreSQL) up to date from the journal
    (server stopped; on a JetStream journal: stop what writes this store, the cluster may run)."""
    from rich.progress import Progress

    from ceres.assembly import engine_factory
    from ceres.pipeline.recovery import recover_with_history

    cfg = _config(config, data_dir)
    with history_journal(cfg, data_dir) as journal:
        projection = _projection(cfg, data_dir)
        if from_scratch:
            projection.reset()
        with Progress(console=err) as progress:
            task = progress.add_task("replaying journal", total=None)
            report = recover_with_history(
                journal, engine_factory(cfg), projection,
                progress=lambda done, total: progress.update(task, completed=done, total=total))
        projection.close()
    out.print(f"projection now at seq {report.recovery.last_seq} (was {report.projection_from})")
    if report.projection_gap:
        out.print("[yellow]history before the oldest retained snapshot is not in the journal any more[/yellow]")


# --- operator actions ------------------------------------------------------------------------
def _admin(op: str, args: dict[str, Any], config: Path | None, data_dir: Path | None) -> Any:
    cfg = _config(config, data_dir)
    from ceres.assembly import open_journal
    from ceres.domain.errors import CeresError
    from ceres.pipeline.journal import JournalLocked

    admin_file = cfg.data_path / "admin.json"
    if open_journal(cfg).ownership.held_elsewhere():
        if not admin_file.exists():
            err.print("[red]the data directory is locked but no admin endpoint is advertised[/red]")
            raise typer.Exit(2)
        info = json.loads(admin_file.read_text())
        req = urllib.request.Request(f"http://127.0.0.1:{info['port']}/admin/{op}",
                                     data=json.dumps(args).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {info['token']}",
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                reply = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            reply = json.loads(exc.read() or b"{}")
        except OSError as exc:
            err.print(f"[red]cannot reach the server's admin endpoint:[/red] {exc}")
            raise typer.Exit(2) from None
        if reply.get("code") != "200":
            err.print(f"[red]{reply.get('code')}[/red] {reply.get('message')}")
            raise typer.Exit(1)
        return reply["data"]

    from ceres.assembly import open_node, venue_admin
    from ceres.gateway.admin import AdminOps
    from ceres.keystore import KeyringError, open_keys

    async def offline() -> Any:
        node, _ = open_node(cfg)
        try:  # the data keys are opened only to seal a new key's secret, once per command
            keys = functools.cache(lambda: open_keys(cfg, node.engine).keys)

            def seal(key: str, secret: str) -> Any:
                return keys().seal(key, secret)

            return await AdminOps(node.engine, node.submit, seal,
                                  require_timestamp_default=cfg.auth.require_timestamp_default,
                                  venues=venue_admin(cfg, node.engine, node.submit, seal)).call(op, args)
        finally:
            await node.close(final_snapshot=False)

    try:
        return _run(offline())
    except (JournalLocked, KeyringError) as exc:
        err.print(f"{exc}", style="red", markup=False)
        raise typer.Exit(2) from None
    except CeresError as exc:
        err.print(f"[red]{exc.code}[/red] {exc.message}")
        raise typer.Exit(1) from None


def _table(rows: list[dict[str, Any]], title: str | None = None) -> None:
    if not rows:
        out.print("(none)")
        return
    table = Table(title=title)
    for col in rows[0]:
        table.add_column(col)
    for r in rows:
        table.add_row(*(str(v) for v in r.values()))
    out.print(table)


@products_app.command("create")
def products_create(name: str, config: Path | None = ConfigOpt, data_dir: Path | None = DataDirOpt) -> None:
    """Create a product (with empty accounts)."""
    _admin("create_product", {"name": name}, config, data_dir)
    out.print(f"product {name} created")


@products_app.command("list")
def products_list(config: Path | None = ConfigOpt, data_dir: Path | None = DataDirOpt) -> None:
    _table(_admin("list_products", {}, config, data_dir))


register_key_commands(keys_app, _admin, out, ConfigOpt, DataDirOpt)  # keys create, keys set
register_venue_commands(app, _admin, out, _table, ConfigOpt, DataDirOpt)  # venues connect, list, disconnect


@keys_app.command("list")
def keys_list(config: Path | None = ConfigOpt, data_dir: Path | None = DataDirOpt) -> None:
    """List API keys (secrets redacted)."""
    _table(_admin("list_keys", {}, config, data_dir))


@keys_app.command("revoke")
def keys_revoke(api_key: str, config: Path | None = ConfigOpt, data_dir: Path | None = DataDirOpt) -> None:
    """Revoke a key: refused at its next request, its sockets closed."""
    r = _admin("revoke_key", {"api_key": api_key}, config, data_dir)
    out.print(f"revoked {api_key}" + (f" ({r['connections_closed']} connections closed)"
                                      if "connections_closed" in r else ""))


def _show(result: dict[str, Any]) -> None:
    out.print(f"product {result['product']}, open orders {result['open_orders']}")
    _table(result["accounts"])


_AMOUNTS = {"ignore_unknown_options": True}
"""A negative amount ("-5") is an argument (refused by its checks, with their message), not an unknown option."""


@accounts_app.command("deposit", context_settings=_AMOUNTS)
def accounts_deposit(product: str, currency: str, amount: str, config: Path | None = ConfigOpt,
                     data_dir: Path | None = DataDirOpt) -> None:
    """Credit the product's settlement account (type 2)."""
    _show(_admin("deposit", {"product": product, "currency": currency, "amount": amount}, config, data_dir))


@accounts_app.command("withdraw", context_settings=_AMOUNTS)
def accounts_withdraw(product: str, currency: str, amount: str, config: Path | None = ConfigOpt,
                      data_dir: Path | None = DataDirOpt) -> None:
    """Debit the product's settlement account (type 2)."""
    _show(_admin("withdraw", {"product": product, "currency": currency, "amount": amount}, config, data_dir))


@accounts_app.command("transfer", context_settings=_AMOUNTS)
def accounts_transfer(product: str, currency: str, amount: str,
                      from_type: int = typer.Option(..., "--from", help="Account type 2, 3 or 4."),
                      to_type: int = typer.Option(..., "--to", help="Account type 2, 3 or 4."),
                      exchange: str = typer.Option("TEST", help="Venue of types 3 and 4."),
                      config: Path | None = ConfigOpt, data_dir: Path | None = DataDirOpt) -> None:
    """Move available funds between the product's accounts."""
    _show(_admin("transfer", {"product": product, "currency": currency, "amount": amount,
                              "from_type": from_type, "to_type": to_type, "exchange": exchange},
                 config, data_dir))


@accounts_app.command("show")
def accounts_show(product: str, config: Path | None = ConfigOpt, data_dir: Path | None = DataDirOpt) -> None:
    _show(_admin("show_accounts", {"product": product}, config, data_dir))


@app.command("audit")
def audit(config: Path | None = ConfigOpt, data_dir: Path | None = DataDirOpt,
          as_json: bool = typer.Option(False, "--json", help="Print the admin endpoint's JSON.")) -> None:
    """Money per currency: balances, fees, insurance, deposits, withdrawals, simulator top-ups,
    and whether conservation holds (exit status 1 if it does not)."""
    r = _admin("audit", {}, config, data_dir)
    if as_json:
        out.print_json(json.dumps(r))
    else:
        rows = r["currencies"]
        table = Table(title=f"money audit at seq {r['seq']}")
        table.add_column("figure")
        for row in rows:
            table.add_column(row["currency"], justify="right")
        for name in [k for k in rows[0] if k != "currency"] if rows else []:
            table.add_row(name, *(str(row[name]) for row in rows))
        out.print(table)
        out.print(f"conservation: {'holds' if r['conservation_ok'] else 'BROKEN'}")
    raise typer.Exit(0 if r["conservation_ok"] else 1)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)

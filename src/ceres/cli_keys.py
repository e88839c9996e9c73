"""``ceres keys create`` and ``ceres keys set``: a key's permissions and its protections;
``ceres keys seal`` and ``ceres keys rotate-master``: the secrets at rest (docs/security.md).

``--require-timestamp/--no-require-timestamp``: every request and handshake of the key
must carry a signed, fresh ``timestamp`` (without either flag, ``create`` takes ``[auth]
require_timestamp_default`` and ``set`` leaves it as it is). ``--allow-ip`` (repeatable,
an address or a CIDR): the key works only from those addresses; ``--any-ip`` lifts the
restriction. Both are journaled commands; ``set`` closes the key's open sockets so they
reconnect under the new rules. The commands are registered on the ``keys`` group of
:mod:`ceres.cli`, which passes its admin call (server running: admin endpoint; stopped:
the data directory) and its options.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from ceres.cli_support import err, load, owned_journal

Admin = Callable[[str, dict[str, Any], Path | None, Path | None], Any]


def _show(out: Console, r: dict[str, Any]) -> None:
    out.print(f"require_timestamp {str(r['require_timestamp']).lower()}\nallow_ips   {r['allow_ips']}\n"
              f"stp         {r['stp']}", markup=False, highlight=False)


def register(keys_app: typer.Typer, admin: Admin, out: Console, config_opt: Any, data_dir_opt: Any) -> None:
    _register_protections(keys_app, admin, out, config_opt, data_dir_opt)
    _register_at_rest(keys_app, out, config_opt, data_dir_opt)


def _register_protections(keys_app: typer.Typer, admin: Admin, out: Console, config_opt: Any,
                          data_dir_opt: Any) -> None:
    require_opt = typer.Option(None, "--require-timestamp/--no-require-timestamp",
                               help="Requests and handshakes must carry a signed, fresh timestamp.")
    allow_opt = typer.Option(None, "--allow-ip", help="Allow only this address or CIDR (repeatable).")
    stp_opt = typer.Option(None, "--stp", help="Default self-trade prevention of the key's orders: none, "
                           "cancel_taker, cancel_maker or cancel_both.")

    @keys_app.command("create")
    def keys_create(product: str, permissions: str = typer.Option("read,trade", help="read, trade or both."),
                    require_timestamp: bool | None = require_opt, allow_ip: list[str] | None = allow_opt,
                    stp: str | None = stp_opt, config: Path | None = config_opt,
                    data_dir: Path | None = data_dir_opt) -> None:
        """Create an API key; the secret is shown once."""
        r = admin("create_key", {"product": product, "permissions": permissions, "require_timestamp": require_timestamp,
                                 "allow_ips": allow_ip or [], "stp": stp}, config, data_dir)
        out.print(f"api_key {r['api_key']}\nsecret  {r['secret']}\npermissions {r['permissions']}",
                  markup=False, highlight=False)
        _show(out, r)

    @keys_app.command("set")
    def keys_set(api_key: str, require_timestamp: bool | None = require_opt, allow_ip: list[str] | None = allow_opt,
                 any_ip: bool = typer.Option(False, "--any-ip", help="Lift the address restriction."),
                 stp: str | None = stp_opt, config: Path | None = config_opt,
                 data_dir: Path | None = data_dir_opt) -> None:
        """Change a key's protections; its open sockets are closed (clients reconnect)."""
        if any_ip and allow_ip:
            raise typer.BadParameter("--any-ip and --allow-ip exclude each other")
        if require_timestamp is None and not allow_ip and not any_ip and stp is None:
            raise typer.BadParameter("nothing to change: give --require-timestamp/--no-require-timestamp, "
                                     "--allow-ip, --any-ip or --stp")
        allow = [] if any_ip else (allow_ip or None)
        r = admin("set_key", {"api_key": api_key, "require_timestamp": require_timestamp, "allow_ips": allow,
                              "stp": stp}, config, data_dir)
        out.print(f"api_key {api_key} updated ({r.get('connections_closed', 0)} connections closed)",
                  markup=False, highlight=False)
        _show(out, r)


def _register_at_rest(keys_app: typer.Typer, out: Console, config_opt: Any, data_dir_opt: Any) -> None:
    @keys_app.command("seal")
    def keys_seal(config: Path | None = config_opt, data_dir: Path | None = data_dir_opt) -> None:
        """Seal the secrets that versions before sealing stored in plain text (server stopped):
        rewrites the journal segments and snapshots that hold them."""
        from ceres.assembly import engine_factory
        from ceres.keystore import KeyringError, seal_stored_secrets
        from ceres.pipeline.frames import JournalCorrupt

        cfg = load(config, data_dir)
        with owned_journal(cfg) as journal:
            try:
                report, sealed = seal_stored_secrets(cfg, journal, engine_factory(cfg))
            except (KeyringError, JournalCorrupt, ValueError) as exc:
                err.print(f"cannot seal: {exc}", style="red", markup=False)
                raise typer.Exit(2) from None
        out.print(f"sealed {len(sealed)} plain secret(s); rewrote {report.records} journal record(s) and "
                  f"{report.snapshot_rows} snapshot row(s) in {len(report.files)} file(s)")

    @keys_app.command("rotate-master")
    def keys_rotate_master(
            new_key_file: Path | None = typer.Option(None, help="Take the new master key from this file "
                                                     "(created with a random key if absent)."),
            new_data_key: bool = typer.Option(False, help="Also start a new data key: secrets created from "
                                              "now on are sealed with it."),
            config: Path | None = config_opt, data_dir: Path | None = data_dir_opt) -> None:
        """Re-wrap the data keys under a new master key (server stopped). The new key comes from
        CERES_NEW_MASTER_KEY, --new-key-file, or else replaces the current key file."""
        from ceres.keystore import KeyringError, rotate_master

        cfg = load(config, data_dir)
        with owned_journal(cfg):
            try:
                master, keys = rotate_master(cfg, new_key_file=new_key_file, new_data_key=new_data_key)
            except KeyringError as exc:
                err.print(f"cannot rotate: {exc}", style="red", markup=False)
                raise typer.Exit(2) from None
        out.print(f"master key is now {master.fingerprint} ({master.source}); "
                  f"data keys {sorted(keys.generations)}, sealing with {keys.current}")

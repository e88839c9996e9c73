"""``ceres serve --role``: the single server, or one part of a cluster on a JetStream journal
(issue 12; ``docs/cluster.md``).

* ``all`` (default): today's single process (``server.start``).
* ``engine``: sequencer + engine. Every engine recovers from the stream and follows it as a
  hot standby (``pipeline.replica``); one holds the lease (``journal.jetstream``) and leads:
  it claims the stream's tail with its new epoch (older epochs are fenced out after it),
  opens the writer, answers the gateways' commands (``cluster.leader``) and runs the
  simulator, the journaled ticks, the live venues' desks (which send the live orders the
  gateways journaled, ``pipeline.venue.VenueDriver``) and, on its first start, the demo
  bootstrap. A leader that
  loses its lease or its journal stops (exit status 3; a supervisor restarts it as a
  standby): it never answers what it cannot prove durable. It serves ``/health`` on its
  HTTP port.
* ``gateway``: every public port and the admin port, with no state of its own: a replica
  of the journal feeds its notices, market data, reads and history store, and commands go
  to the leader (``cluster.forward``). Its live venues list markets, read balances and
  market data themselves, and journal orders for the leader's desks to send.
* ``projector``: a replica that writes the history store (SQLite in its data directory, or
  PostgreSQL when ``[store]`` says so); ``/health`` on its HTTP port.

Every process of a cluster needs the same master key (``CERES_MASTER_KEY`` or the key file);
the keyring (data keys wrapped by it) is shared through the journal's KV bucket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable
from typing import Any

import nats
from aiohttp import web

from ceres.assembly import (
    PROJECTION_GATHER_MS,
    engine_factory,
    live_venues,
    open_history,
    open_journal,
    open_projection,
)
from ceres.cluster.forward import RemoteSubmit
from ceres.cluster.leader import CommandServer
from ceres.config import Config
from ceres.crypto.keyring import keyring_path
from ceres.demo import banner, bootstrap_demo, demo_lines
from ceres.engine.core import Engine
from ceres.keystore import OpenKeys, open_keys, plain_keys
from ceres.pipeline.background import BackgroundWriter
from ceres.pipeline.dispatch import Dispatcher
from ceres.pipeline.journal import JournalLocked
from ceres.pipeline.node import Node
from ceres.pipeline.recovery import recover, recover_with_history
from ceres.pipeline.replica import Replica
from ceres.pipeline.venue import VenueDriver
from ceres.server import (
    Consumers,
    Running,
    advertise,
    naming_port,
    open_ports,
    prepare,
    report_keys,
    serve_app,
    start,
    start_leader_tasks,
    withdraw,
)
from ceres.store.projection import Projection
from ceres.wire.limits import ConnectionLimits

log = logging.getLogger("ceres.roles")
ROLES = ("all", "engine", "gateway", "projector")


class NoWriter:
    """``/metrics`` of a process that writes no journal."""

    @staticmethod
    def stats() -> list[tuple[str, str, str, float]]:
        return []


def _cluster_journal(cfg: Config, role: str) -> Any:
    if cfg.journal.backend != "jetstream":  # the CLI says so first
        raise ValueError(f"--role {role} needs the JetStream journal")
    return open_journal(cfg)


def command_subject(cfg: Config) -> str:
    return f"{cfg.journal.jetstream.stream.lower()}.cmd"


def _open_keys(cfg: Config, journal: Any, engine: Engine) -> OpenKeys:
    """The data keys, with the keyring the same on every process (see the module doc)."""
    path = keyring_path(cfg.data_path)
    journal.share_file("keyring", path)
    sealing = open_keys(cfg, engine)
    if journal.share_file("keyring", path):  # another process stored its keyring first
        sealing = open_keys(cfg, engine)
    report_keys(sealing, plain_keys(engine))
    return sealing


async def _follow(stack: contextlib.AsyncExitStack, journal: Any, replica: Replica) -> Any:
    replica.stream_seq = journal.reader.position.stream_seq
    tail = journal.follow(replica.on_frames, replica.on_error)
    stack.callback(tail.stop)
    return tail


async def _nats(cfg: Config, stack: contextlib.AsyncExitStack) -> Any:
    js = cfg.journal.jetstream
    nc = await nats.connect(servers=list(js.servers), connect_timeout=js.timeout_ms / 1000,
                            max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    stack.push_async_callback(nc.close)
    return nc


def _begin(cfg: Config, stack: contextlib.AsyncExitStack, stopping: asyncio.Event,
           role: str) -> tuple[Running, Any, Any]:
    """``(running, tls, journal)`` of a cluster role, with their undoing on ``stack``."""
    running, tls = prepare(cfg, stopping)
    running.role = role
    journal = _cluster_journal(cfg, role)
    stack.callback(journal.close)
    stack.callback(withdraw, running, cfg)
    return running, tls, journal


def _recover(cfg: Config, journal: Any, projection: Projection | None) -> Engine:
    """The engine at the stream's tail; ``projection`` (if any) caught up on the way."""
    if projection is None:
        return recover(journal, engine_factory(cfg)).engine
    engine = recover_with_history(journal, engine_factory(cfg), projection).recovery.engine
    projection.close()  # reopened by the background thread, which writes from now on
    return engine


def _history_writer(cfg: Config, journal: Any, projection: Projection) -> BackgroundWriter:
    return BackgroundWriter(journal.snapshots, projection, keep_snapshots=0, gather_ms=PROJECTION_GATHER_MS,
                            retry_s=cfg.journal.retry_ms / 1000)


def _start_writer(stack: contextlib.AsyncExitStack, writer: BackgroundWriter, replica: Replica) -> None:
    writer.start(replica, asyncio.get_running_loop())
    stack.callback(writer.stop)


# --- gateway -------------------------------------------------------------------------------------
async def start_gateway(cfg: Config, stack: contextlib.AsyncExitStack, stopping: asyncio.Event, *,
                        show: Callable[[str], None] = print) -> Running:
    loop = asyncio.get_running_loop()
    running, tls, journal = _begin(cfg, stack, stopping, "gateway")
    shared = cfg.store.backend == "postgres"  # written by the projector role, read here
    projection = None if shared else open_projection(cfg)
    if shared:  # the tables, before any projector has made them (opening the writer makes them)
        open_projection(cfg).close()
    engine = _recover(cfg, journal, projection)
    log.info("gateway: recovered seq %d from the %s", engine.seq, journal.describe())
    sealing = _open_keys(cfg, journal, engine)
    history = open_history(cfg)
    stack.callback(history.close)
    consumers = Consumers(cfg, engine, sealing, history)
    background = ReadOnlyHistory() if projection is None else _history_writer(cfg, journal, projection)
    replica = Replica(engine, consumers.dispatcher, background, loop,
                      projected_seq=history.last_seq() if projection is None else projection.last_seq(),
                      on_fatal=running.fatal)
    if isinstance(background, BackgroundWriter):
        _start_writer(stack, background, replica)
    else:
        watch = asyncio.create_task(_watch_history(replica, history))
        stack.callback(watch.cancel)
    await _follow(stack, journal, replica)
    js = cfg.journal.jetstream
    submit = RemoteSubmit(await _nats(cfg, stack), command_subject(cfg), replica.reached,
                          timeout_s=js.timeout_ms / 1000)
    live = await live_venues(cfg, engine, sealing.keys.unseal, submit, front=True)  # the leader's desks send
    for venue in live:
        stack.push_async_callback(venue.close)
    await open_ports(cfg, stack, running, tls, engine, consumers, sealing, replica, NoWriter(), submit, live,
                     counters=submit.counters())
    advertise(cfg, running, tls, "Ceres gateway\n" + banner(cfg.server.host, running.ports, cfg.data_path, None,
                                                            tls=tls is not None), show)
    return running


class ReadOnlyHistory:
    """A gateway's history store when the projector role writes it (PostgreSQL)."""

    @staticmethod
    def submit(items: Any, snapshot: Any) -> None:
        return None


async def _watch_history(replica: Replica, history: Any, period_s: float = 0.01) -> None:
    """How far the shared history store has got, while reads wait for it."""
    while True:
        await asyncio.sleep(period_s)
        if replica.projected_seq < replica.seq:
            try:
                replica.on_projected(history.last_seq())
            except Exception as exc:
                replica.on_projection_failed(exc)


# --- engine --------------------------------------------------------------------------------------
class Leadership:
    """A hot standby that takes the lease when it is free and then leads until it stops."""

    def __init__(self, cfg: Config, stack: contextlib.AsyncExitStack, running: Running, journal: Any,
                 replica: Replica, tail: Any, sealing: OpenKeys, simulator: bool | None,
                 show: Callable[[str], None]) -> None:
        self.cfg = cfg
        self.stack = stack
        self.running = running
        self.journal = journal
        self.replica = replica
        self.tail = tail
        self.sealing = sealing
        self.simulator = simulator
        self.show = show
        self.leading = False
        self.lease_lost = False
        self.claimed = False
        self.node: Node | None = None
        self.server: CommandServer | None = None

    def view(self) -> dict[str, Any]:
        node = self.node
        return {"status": "ok" if self.replica.failed is None else "failed", "role": "engine",
                "leading": self.leading, "epoch": self.journal.ownership.epoch,
                "seq": node.sequencer.seq if node is not None else self.replica.seq,
                "durable_seq": node.sequencer.durable_seq if node is not None else self.replica.seq,
                **self._served()}

    def _served(self) -> dict[str, Any]:
        server = self.server
        if server is None:
            return {}
        return {"commands_served": server.served, "duplicates": server.duplicates,
                "answer_ms_avg": round(server.answer_s * 1000 / server.served, 3) if server.served else None}

    async def run(self) -> None:
        try:
            epoch = await self._claim()
            await self._lead(epoch)
        except Exception as exc:
            log.critical("engine: cannot lead: %s", exc)
            self.running.fatal(exc)

    async def _claim(self) -> int:
        """Take the lease, read what the old owner stored and fence it out after that (the
        claim). While the servers do not answer (a node of the cluster went away, the stream
        or the KV bucket electing its leader), nothing has been written: try again. Returns
        the epoch this engine leads with."""
        loop = asyncio.get_running_loop()
        journal, replica = self.journal, self.replica
        ownership = journal.ownership
        pause = self.cfg.journal.jetstream.lease_ms / 8000
        timeout = self.cfg.journal.jetstream.timeout_ms / 1000 * 4
        while True:
            try:
                self.lease_lost = False
                epoch = int(await asyncio.to_thread(ownership.acquire, 0))
                ownership.on_lost = lambda why: loop.call_soon_threadsafe(self._lost, why)
                while True:
                    last = await asyncio.to_thread(journal.stream_last)
                    await replica.reached_stream(last, timeout)
                    if self.tail.position.epoch > epoch:  # never claim below an epoch that has written
                        raise JournalLocked(f"epoch {self.tail.position.epoch} wrote after epoch {epoch} was taken")
                    stored = await asyncio.to_thread(journal.claim, last)
                    if stored is not None:
                        await replica.reached_stream(stored, timeout)
                        if self.lease_lost:  # a successor's claim fences this one out
                            raise JournalLocked("the lease ran out while claiming")
                        self.claimed = True  # from now on, losing the lease stops this process
                        return epoch
            except JournalLocked:
                await asyncio.sleep(pause)
            except Exception as exc:
                if replica.failed is not None:
                    raise
                log.warning("engine: taking the lead: %s: %s; trying again", type(exc).__name__, exc)
                await asyncio.sleep(0.2)

    async def _lead(self, epoch: int) -> None:
        loop = asyncio.get_running_loop()
        journal, replica, cfg = self.journal, self.replica, self.cfg
        self.tail.stop()
        if replica.failed is not None:
            raise replica.failed
        engine = replica.engine
        jc = cfg.journal
        background = BackgroundWriter(journal.snapshots, None, keep_snapshots=jc.keep_snapshots,
                                      retry_s=jc.retry_ms / 1000)
        driver = VenueDriver()  # gateways' live orders: this engine's desks send them
        node = Node(engine, journal, journal.open_writer(engine.seq + 1), background,
                    Dispatcher([driver.subscription()]), loop, snapshot_every=jc.snapshot_every,
                    last_snapshot_seq=max(journal.snapshots.seqs(), default=0), on_fatal=self.running.fatal)
        self.node = node
        self.stack.push_async_callback(node.close)
        for venue in await live_venues(cfg, engine, self.sealing.keys.unseal, node.submit):
            self.stack.push_async_callback(venue.close)
            driver.register(venue.exchange, venue)
        server = CommandServer(await _nats(cfg, self.stack), command_subject(cfg), node.submit,
                               lambda: node.sequencer.seq)
        await server.start()
        self.server = server
        self.stack.push_async_callback(server.stop)
        self.leading = True
        log.warning("engine: leading with epoch %d from seq %d", epoch, engine.seq)
        demo = await bootstrap_demo(cfg, engine, node.submit, cfg.data_path, self.sealing.keys.seal)
        await start_leader_tasks(cfg, self.stack, engine, node, self.simulator)
        self.show(f"Ceres engine leading (epoch {epoch}, seq {engine.seq})" + _demo_lines(cfg, demo))

    def _lost(self, why: str) -> None:
        if not self.claimed:  # still claiming: take the lease again (with a new epoch)
            log.warning("engine: lost the lease while taking the lead (%s)", why)
            self.lease_lost = True
            return
        log.critical("engine: lost the lease (%s); stopping (restart as a standby)", why)
        self.running.fatal(RuntimeError(why))


def _demo_lines(cfg: Config, demo: dict[str, Any] | None) -> str:
    """The demo part of the banner (the gateways' ports are elsewhere)."""
    if demo is None:
        return ""
    return "\n" + "\n".join(demo_lines(cfg.data_path, demo, show_secret=sys.stdout.isatty()))


async def start_engine(cfg: Config, stack: contextlib.AsyncExitStack, stopping: asyncio.Event, *,
                       simulator: bool | None = None, show: Callable[[str], None] = print) -> Running:
    loop = asyncio.get_running_loop()
    running, tls, journal = _begin(cfg, stack, stopping, "engine")
    engine = _recover(cfg, journal, None)
    log.info("engine: recovered seq %d from the %s; following it", engine.seq, journal.describe())
    sealing = _open_keys(cfg, journal, engine)
    replica = Replica(engine, Dispatcher([]), None, loop, on_fatal=running.fatal)
    tail = await _follow(stack, journal, replica)
    leadership = Leadership(cfg, stack, running, journal, replica, tail, sealing, simulator, show)
    task = asyncio.create_task(leadership.run())
    stack.callback(task.cancel)
    await _health_port(cfg, stack, running, tls, leadership.view)
    advertise(cfg, running, tls, f"Ceres engine (standby until it holds the lease), health on port "
                                 f"{running.ports['http']}", show)
    return running


# --- projector -----------------------------------------------------------------------------------
async def start_projector(cfg: Config, stack: contextlib.AsyncExitStack, stopping: asyncio.Event, *,
                          show: Callable[[str], None] = print) -> Running:
    loop = asyncio.get_running_loop()
    running, tls, journal = _begin(cfg, stack, stopping, "projector")
    projection = open_projection(cfg)
    engine = _recover(cfg, journal, projection)
    background = _history_writer(cfg, journal, projection)
    replica = Replica(engine, Dispatcher([]), background, loop, projected_seq=projection.last_seq(),
                      on_fatal=running.fatal)
    _start_writer(stack, background, replica)
    await _follow(stack, journal, replica)
    await _health_port(cfg, stack, running, tls, lambda: {
        "status": "ok" if replica.failed is None and replica.projection_failed is None else "failed",
        "role": "projector", "seq": replica.seq, "projected_seq": replica.projected_seq})
    advertise(cfg, running, tls, f"Ceres projector at seq {replica.seq}, health on port {running.ports['http']}",
              show)
    return running


async def _health_port(cfg: Config, stack: contextlib.AsyncExitStack, running: Running, tls: Any,
                       view: Callable[[], dict[str, Any]]) -> None:
    async def health(_: web.Request) -> web.Response:
        body = view()
        return web.json_response(body, status=200 if body.get("status") == "ok" else 503)

    app = web.Application()
    app.router.add_get("/health", health)
    lim = cfg.limits
    limits = ConnectionLimits(max_per_ip=lim.max_connections_per_ip, max_per_key=lim.max_connections_per_key)
    stack.callback(limits.close_all)
    with naming_port("http", cfg.server.http_port):
        running.ports["http"] = await serve_app(stack, app, cfg.server.host, cfg.server.http_port, limits, lim, tls)


# --- entry ---------------------------------------------------------------------------------------
STARTS: dict[str, Callable[..., Any]] = {"gateway": start_gateway, "projector": start_projector}


async def serve(cfg: Config, *, role: str = "all", simulator: bool | None = None) -> int:
    """Run ``role`` until SIGINT/SIGTERM (or a fatal failure); returns the exit status."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    async with contextlib.AsyncExitStack() as stack:
        if role == "all":
            running = await start(cfg, stack, stopping, simulator=simulator)
        elif role == "engine":
            running = await start_engine(cfg, stack, stopping, simulator=simulator)
        else:
            running = await STARTS[role](cfg, stack, stopping)
        await stopping.wait()
        log.info("shutting down")
    return running.exit_code

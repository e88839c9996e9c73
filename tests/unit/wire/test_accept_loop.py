"""The accept loop (``ceres.wire.accept``) when the process runs out of file descriptors:
a server process with a soft limit of 64 descriptors and no connection cap of its own
is sent more connections than it can hold. ``accept`` fails with EMFILE; the listener
pauses, counts the failures and logs one line for them (not one per attempt, no
traceback), keeps serving the connections it has, and accepts again once descriptors
are free.
"""

from __future__ import annotations

import json
import resource
import socket
import subprocess
import sys
import time

SERVER = r"""
import asyncio, json, logging, resource, sys
import uvloop
from ceres.wire.accept import Listener
from ceres.wire.conn import StreamConn
from ceres.wire.limits import ConnectionLimits

logging.basicConfig(level=logging.INFO, stream=sys.stderr)
resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
    def data_received(self, data):
        if data.startswith(b"stats"):
            self.transport.write(json.dumps({"accept_errors": limits.accept_errors,
                                             "open": limits.total}).encode() + b"\n")
        else:
            self.transport.write(data)
    def connection_lost(self, exc):
        pass

limits = ConnectionLimits()  # no cap: the descriptors run out first

async def main():
    loop = asyncio.get_running_loop()
    listener = Listener(limits, lambda ip: StreamConn(limits, ip, 3600, Echo), loop.connect_accepted_socket, name="t")
    print(listener.start("127.0.0.1", 0), flush=True)
    await asyncio.sleep(60)

uvloop.run(main())
"""


def ask(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        return s.recv(4096)


def test_out_of_descriptors_pauses_accepting_logs_once_and_recovers(tmp_path):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 512:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(512, hard), hard))
    log = tmp_path / "server.log"
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, stderr=err, text=True)
    clients: list[socket.socket] = []
    try:
        port = int(proc.stdout.readline())
        # more than 64 descriptors: the kernel queues them, accept fails
        clients += [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(150)]
        time.sleep(1.5)  # the listener retries every 0.5 s meanwhile
        assert proc.poll() is None
        assert clients[0].sendall(b"ping") is None and clients[0].recv(16) == b"ping"  # still serving
        for c in clients:
            c.close()
        clients.clear()
        time.sleep(1.0)  # accepted (and closed) what waited in the backlog; descriptors free again
        stats = json.loads(ask(port, b"stats"))
        # it paused between attempts (0.5 s): a handful of failures, not a busy loop of thousands
        assert 1 <= stats["accept_errors"] <= 50
        assert ask(port, b"hello") == b"hello"  # accepting again
        text = log.read_text()
        assert text.count("accept failed") == 1, text  # one line for all the failures
        assert "Traceback" not in text
    finally:
        for c in clients:
            c.close()
        proc.kill()
        proc.wait()

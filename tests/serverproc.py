"""A real ``ceres serve`` process on loopback for integration tests.

Ports are chosen by the OS (``--*-port 0``); readiness is ``DATA_DIR/server.json``
appearing with the child's pid. Processes are stopped by PID only (SIGTERM, or SIGKILL
for crash tests).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ceres.client import RestClient

PORT_FLAGS = ("--http-port", "--trade-ws-port", "--notify-ws-port", "--market-ws-port", "--admin-port")


class ServerProcess:
    def __init__(self, data_dir: Path, *, config: str | None = None, extra_args: tuple[str, ...] = (),
                 env: dict[str, str] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.config_path: Path | None = None
        if config is not None:
            self.config_path = self.data_dir.parent / f"{self.data_dir.name}.toml"
            self.config_path.write_text(config)
        self.extra_args = extra_args
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.info: dict[str, Any] = {}
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"
        self.out_path = self.data_dir.parent / f"{self.data_dir.name}.out"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        args = [sys.executable, "-m", "ceres", "serve", "--data-dir", str(self.data_dir)]
        for flag in PORT_FLAGS:
            args += [flag, "0"]
        if self.config_path is not None:
            args += ["--config", str(self.config_path)]
        args += list(self.extra_args)
        server_json = self.data_dir / "server.json"
        server_json.unlink(missing_ok=True)
        with open(self.out_path, "a") as out, open(self.log_path, "a") as err:  # the child keeps its own copies
            self.proc = subprocess.Popen(args, stdout=out, stderr=err, env=self.env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}")
            try:
                info = json.loads(server_json.read_text())
                if info.get("pid") == self.proc.pid:
                    self.info = info
                    return self
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        self.kill()
        raise TimeoutError(f"server did not start:\n{self.log_path.read_text()[-3000:]}")

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.info['http']}"

    @property
    def trade_ws_url(self) -> str:
        return f"http://127.0.0.1:{self.info['trade_ws']}/"

    def ws_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.info[name]}/"

    def demo(self) -> dict:
        return json.loads((self.data_dir / "demo-credentials.json").read_text())

    def rest(self, api_key: str | None = None, secret: str | None = None, **kw: Any) -> RestClient:
        if api_key is None:
            d = self.demo()
            api_key, secret = d["api_key"], d["secret"]
        return RestClient(self.http_url, api_key, secret or "", **kw)

    def admin(self, op: str, **args: Any) -> Any:
        """Call the admin endpoint (as the CLI does with the server running)."""
        import urllib.request

        info = json.loads((self.data_dir / "admin.json").read_text())
        req = urllib.request.Request(f"http://127.0.0.1:{info['port']}/admin/{op}", data=json.dumps(args).encode(),
                                     method="POST", headers={"Authorization": f"Bearer {info['token']}"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            reply = json.loads(resp.read())
        if reply["code"] != "200":
            raise RuntimeError(reply)
        return reply["data"]

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait: a clean shutdown."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def kill(self) -> None:
        """SIGKILL: a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def logs(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

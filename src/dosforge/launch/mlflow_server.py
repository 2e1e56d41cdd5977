"""One `mlflow server` in front of the project's sqlite store while many trainings log at once.

Several processes writing `sqlite:///mlflow.db` directly fail with "database is locked" (mlflow/mlflow PR
#6490; notes/distributed.md 2.2); a single server is the only writer. Artifacts stay where a direct run puts
them (`--default-artifact-root`, written by the clients, not proxied). A server already named by an http(s)
MLFLOW_TRACKING_URI is used as is and left running.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MlflowServer:
    """Context manager: `uri` is the tracking URI the children get (MLFLOW_TRACKING_URI)."""

    def __init__(
        self, root: str | Path, store: str | None = None, port: int | None = None, host: str = "127.0.0.1",
        start_timeout_s: float = 300.0,
    ):  # fmt: skip
        self.root = Path(root).resolve()
        self.host = host
        configured = os.environ.get("MLFLOW_TRACKING_URI", "")
        self.external = configured.startswith(("http://", "https://"))
        self.store = store or configured or f"sqlite:///{self.root / 'mlflow.db'}"
        self.port = port or free_port()
        self.start_timeout_s = start_timeout_s
        # a server bound to all interfaces (SLURM jobs on other nodes) is reached through this host's name
        self.reach = socket.getfqdn() if host == "0.0.0.0" else host
        self.uri = configured if self.external else f"http://{self.reach}:{self.port}"
        self.process: subprocess.Popen | None = None
        self.log = self.root / ".dosforge" / "mlflow_server.log"

    def __enter__(self) -> MlflowServer:
        """Start the server; `uri` answers once `wait()` returned (fanout runs the upstream stages meanwhile)."""
        self.start()
        return self

    def start(self) -> None:
        """Start the server process without waiting for it (the caller can do other work meanwhile)."""
        if self.external or self.process is not None:
            return
        if not self.store.startswith("sqlite:///"):
            raise ValueError(
                f"MLFLOW_TRACKING_URI={self.store!r}: a fan-out serves a sqlite store or uses an http(s) server"
            )
        self.log.parent.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable, "-m", "mlflow", "server", "--backend-store-uri", self.store,
            "--default-artifact-root", str(self.root / "mlruns"), "--no-serve-artifacts",
            "--host", self.host, "--port", str(self.port), "--workers", "1",
        ]  # fmt: skip
        if self.host == "0.0.0.0":  # mlflow's security middleware answers only localhost unless told otherwise
            cmd += ["--allowed-hosts", f"{self.reach},{self.reach}:{self.port},localhost,127.0.0.1"]
        env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true")
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)  # fmt: skip

    def wait(self) -> None:
        """Block until the server answers /health (raise, naming its log, if it exits or times out)."""
        if self.external:
            return
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {self.process.returncode}; see {self.log}")
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"mlflow server not healthy after {self.start_timeout_s:.0f} s; see {self.log}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, 15)  # the server's own session: uvicorn and its workers, nothing else
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait()

    def __exit__(self, *exc) -> None:
        self.stop()

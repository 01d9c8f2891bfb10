"""A real single-node Ray cluster for the Ray serving tests: ``ray start --head --block`` on
127.0.0.1 in a session of its own, every port chosen free (outside Ray's worker port range),
under a temp dir of its own. Stopping it signals that session, then any process still naming
the temp dir (a worker Ray moved out of the session), by PID: nothing else's Ray is touched."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

RAY = Path(sys.executable).parent / "ray"
#: Ray gives its workers ports in this range: the head's own ports stay out of it.
WORKER_PORTS = range(10002, 20000)
#: Logical CPUs: one per replica, with room for a rolling restart of two replicas.
NUM_CPUS = 4
START_TIMEOUT = 90.0


def free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in WORKER_PORTS:
            return port


@dataclass
class RayHead:
    #: Short: Ray's AF_UNIX socket paths, under it, must stay within 108 bytes.
    temp_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.temp_dir / "ray-start.log"

    def start(self) -> RayHead:
        ports = {
            "--port": self.port,
            "--ray-client-server-port": free_port(),
            "--node-manager-port": free_port(),
            "--object-manager-port": free_port(),
            "--metrics-export-port": free_port(),
            "--dashboard-agent-listen-port": free_port(),
            "--dashboard-agent-grpc-port": free_port(),
            "--runtime-env-agent-port": free_port(),
            "--dashboard-port": free_port(),
        }
        command = [
            str(RAY),
            "start",
            "--head",
            "--block",
            "--node-ip-address=127.0.0.1",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--num-cpus={NUM_CPUS}",
            f"--temp-dir={self.temp_dir}",
            *(f"{flag}={port}" for flag, port in ports.items()),
        ]
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        self._wait_started()
        return self

    def _wait_started(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ray start exited:\n{self.log.read_text()}")
            if "Ray runtime started" in self.log.read_text(errors="replace"):
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the Ray head did not start in {START_TIMEOUT:g} s:\n{self.log}")

    def stop(self) -> None:
        """SIGTERM to the head's process group, then SIGKILL to whatever of it is left."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        deadline = time.monotonic() + 30
        while (left := self.processes()) and time.monotonic() < deadline:
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        if self.process.poll() is None:
            self.process.wait()

    def processes(self) -> list[int]:
        """PIDs of this head's processes still running (zombies aside): its session's, and
        any whose command line names its temp dir."""
        assert self.process is not None
        mine = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                command = (entry / "cmdline").read_bytes()
                zombie = (entry / "stat").read_text().rpartition(")")[2].split()[0] == "Z"
                session = os.getsid(int(entry.name))
            except OSError:  # gone meanwhile
                continue
            if zombie:
                continue
            if session == self.process.pid or str(self.temp_dir).encode() in command:
                mine.append(int(entry.name))
        return mine

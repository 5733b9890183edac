"""A live uvicorn for benchmarks: start it on a free loopback port, watch its memory and
CPU time, stop its whole process group.

Shared by the benchmarks that drive the app over HTTP. Linux only (memory comes from
/proc, since psutil is not a dependency). The server only ever listens on 127.0.0.1.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _uvicorn() -> list[str]:
    script = ROOT / ".venv" / "bin" / "uvicorn"
    return [str(script)] if script.exists() else [sys.executable, "-m", "uvicorn"]


def _proc_status(pid: int) -> dict[str, str]:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # gone, or not ours to read
        return {}
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


def _kib(value: str | None) -> int:
    return int(value.split()[0]) if value else 0


def descendants(root: int) -> list[int]:
    """``root`` and every process below it, from the parent ids in /proc/<pid>/stat."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: split after it.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _cpu_ticks(pid: int) -> int:
    """User + system CPU time of ``pid`` so far, in clock ticks."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat


@dataclass
class Usage:
    """Peak memory and CPU time of a process tree, sampled while it runs (a worker that
    dies keeps what it had at the last sample)."""

    hwm_kib: dict[int, int] = field(default_factory=dict)  # pid -> VmHWM (its own peak RSS)
    cpu_ticks: dict[int, int] = field(default_factory=dict)
    peak_total_rss_kib: int = 0  # largest sum of VmRSS over the tree at one sample

    def sample(self, root: int) -> None:
        total = 0
        for pid in descendants(root):
            status = _proc_status(pid)
            if not status:
                continue
            self.hwm_kib[pid] = max(self.hwm_kib.get(pid, 0), _kib(status.get("VmHWM")))
            self.cpu_ticks[pid] = max(self.cpu_ticks.get(pid, 0), _cpu_ticks(pid))
            total += _kib(status.get("VmRSS"))
        self.peak_total_rss_kib = max(self.peak_total_rss_kib, total)

    def cpu_seconds(self) -> float:
        return sum(self.cpu_ticks.values()) / os.sysconf("SC_CLK_TCK")

    def summary(self, root: int) -> dict:
        mib = 1024
        return {
            "processes": len(self.hwm_kib),
            "peak_rss_mib_per_process": {
                f"{pid}{' (supervisor)' if pid == root else ''}": round(kib / mib, 1)
                for pid, kib in sorted(self.hwm_kib.items())
            },
            "peak_rss_mib_max": round(max(self.hwm_kib.values(), default=0) / mib, 1),
            "peak_rss_mib_sum_of_peaks": round(sum(self.hwm_kib.values()) / mib, 1),
            "peak_rss_mib_total_sampled": round(self.peak_total_rss_kib / mib, 1),
        }


class LiveServer:
    """``uvicorn config.asgi:application`` in its own session (process group)."""

    def __init__(self, *, env: dict, workers: int, log_path: Path, ready_seconds: float = 60):
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log_path = log_path
        self.usage = Usage()
        command = [
            *_uvicorn(),
            "config.asgi:application",
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--workers",
            str(workers),
            # Longer than a participant's pause between two requests: with uvicorn's
            # 5 s default an idle keep-alive connection is closed just as the client
            # sends on it, and the request fails (see README, Production settings).
            "--timeout-keep-alive",
            "75",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self._wait_ready(ready_seconds)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        with httpx.Client(trust_env=False, timeout=2) as client:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"uvicorn exited early:\n{self.log_tail()}")
                try:
                    if client.get(f"{self.url}/healthz").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"uvicorn not ready in {seconds:.0f}s:\n{self.log_tail()}")
                time.sleep(0.2)

    def sample(self) -> None:
        """Record the processes' memory and CPU time now."""
        if self.proc.poll() is None:
            self.usage.sample(self.proc.pid)

    def log_text(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_text()[-chars:]

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM to the whole group (uvicorn's workers too), SIGKILL if it lingers."""
        self.sample()
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
            # The supervisor is gone; make sure no worker of its group outlived it.
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.5)
        if not self._log.closed:
            self._log.close()

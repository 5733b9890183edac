"""A live web tier for benchmarks: one uvicorn (the demo's layout, ``LiveServer``) or the
production one (``SplitServer``: nginx in front of gunicorn for the pages and uvicorn for
the streams, deploy/nginx.conf.template), on free loopback ports; its memory and CPU time
watched, its process groups stopped.

Shared by the benchmarks that drive the app over HTTP. Linux only (memory comes from
/proc, since psutil is not a dependency). The server only ever listens on 127.0.0.1.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _script(name: str) -> list[str]:
    script = ROOT / ".venv" / "bin" / name
    return [str(script)] if script.exists() else [sys.executable, "-m", name]


def uvicorn_command(port: int, workers: int, *, access_log: bool = False) -> list[str]:
    return [
        *_script("uvicorn"),
        "config.asgi:application",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        # Longer than a participant's pause between two requests: with uvicorn's
        # 5 s default an idle keep-alive connection is closed just as the client
        # sends on it, and the request fails (see README, Production settings).
        "--timeout-keep-alive",
        "75",
        *(["--log-level", "info"] if access_log else ["--no-access-log", "--log-level", "warning"]),
    ]


def gunicorn_command(
    port: int, workers: int, threads: int, *, access_log: bool = False
) -> list[str]:
    """The pages' server as docker-compose.yml runs it."""
    return [
        *_script("gunicorn"),
        "config.wsgi:application",
        "--worker-class",
        "gthread",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--bind",
        f"{HOST}:{port}",
        "--keep-alive",
        "75",
        "--log-level",
        "warning",
        *(["--access-logfile", "-"] if access_log else []),
    ]


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

    def sample(self, *roots: int) -> None:
        total = 0
        for pid in (pid for root in roots for pid in descendants(root)):
            status = _proc_status(pid)
            if not status:
                continue
            self.hwm_kib[pid] = max(self.hwm_kib.get(pid, 0), _kib(status.get("VmHWM")))
            self.cpu_ticks[pid] = max(self.cpu_ticks.get(pid, 0), _cpu_ticks(pid))
            total += _kib(status.get("VmRSS"))
        self.peak_total_rss_kib = max(self.peak_total_rss_kib, total)

    def cpu_seconds(self) -> float:
        return sum(self.cpu_ticks.values()) / os.sysconf("SC_CLK_TCK")

    def summary(self, *roots: int) -> dict:
        mib = 1024
        return {
            "processes": len(self.hwm_kib),
            "peak_rss_mib_per_process": {
                f"{pid}{' (supervisor)' if pid in roots else ''}": round(kib / mib, 1)
                for pid, kib in sorted(self.hwm_kib.items())
            },
            "peak_rss_mib_max": round(max(self.hwm_kib.values(), default=0) / mib, 1),
            "peak_rss_mib_sum_of_peaks": round(sum(self.hwm_kib.values()) / mib, 1),
            "peak_rss_mib_total_sampled": round(self.peak_total_rss_kib / mib, 1),
        }


class LiveServer:
    """One server (by default ``uvicorn config.asgi:application``) in its own session
    (process group), started with ``nice`` when asked; ready once ``ready_path`` answers."""

    def __init__(
        self,
        *,
        env: dict,
        log_path: Path,
        workers: int = 1,
        command: Callable[[int], list[str]] | None = None,
        port: int | None = None,
        nice: int = 0,
        ready_path: str = "/healthz",
        ready_seconds: float = 60,
    ):
        self.port = port or free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log_path = log_path
        self.usage = Usage()
        argv = command(self.port) if command else uvicorn_command(self.port, workers)
        if nice:
            argv = ["nice", "-n", str(nice), *argv]
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self._wait_ready(ready_path, ready_seconds)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, path: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        with httpx.Client(trust_env=False, timeout=2) as client:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.proc.args[0]} exited early:\n{self.log_tail()}")
                try:
                    if client.get(f"{self.url}{path}").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{self.proc.args[0]} not ready in {seconds:.0f}s:\n{self.log_tail()}"
                    )
                time.sleep(0.2)

    @property
    def roots(self) -> list[int]:
        return [self.proc.pid]

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


NGINX_TEMPLATE = ROOT / "deploy" / "nginx.conf.template"

# The http {} around the template, as the nginx image's own nginx.conf gives it: every
# path in the run's folder, nothing of the machine's nginx touched.
_NGINX_MAIN = """\
{user}worker_processes 1;
pid nginx.pid;
error_log nginx-error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path body;
    proxy_temp_path proxy;
    fastcgi_temp_path fastcgi;
    uwsgi_temp_path uwsgi;
    scgi_temp_path scgi;
    {types}
    default_type application/octet-stream;
    include site.conf;
}}
"""


def nginx_conf(folder: Path, *, listen: int, pages: int, streams: int, static_root: Path) -> Path:
    """deploy/nginx.conf.template filled in for loopback, in ``folder``; the main file."""
    values = {
        "MGE_LISTEN": f"{HOST}:{listen}",
        "MGE_PAGES": f"{HOST}:{pages}",
        "MGE_STREAMS": f"{HOST}:{streams}",
        "MGE_STATIC_ROOT": str(static_root),
    }
    # As the nginx image's envsubst does: ${MGE_...} only; $host and the like are nginx's.
    site = re.sub(r"\$\{(MGE_\w+)\}", lambda m: values[m.group(1)], NGINX_TEMPLATE.read_text())
    (folder / "site.conf").write_text(site)
    types = Path("/etc/nginx/mime.types")
    main = _NGINX_MAIN.format(
        # As root, nginx's workers would run as nobody and could not read the run's
        # folder (mkdtemp makes it private).
        user="user root;\n" if os.geteuid() == 0 else "",
        types=f"include {types};" if types.exists() else "types { text/css css; }",
    )
    (folder / "nginx.conf").write_text(main)
    return folder / "nginx.conf"


class SplitServer:
    """The production layout on loopback (docker-compose.yml, deploy/nginx.conf.template):
    nginx in front; gunicorn with ``threads`` per process for the pages; uvicorn, at
    ``nice`` for the streams and the model waits. ``url``, ``usage``, ``sample`` and
    ``stop`` as ``LiveServer``'s, over all three."""

    def __init__(
        self,
        *,
        env: dict,
        folder: Path,
        workers: int,
        threads: int,
        stream_workers: int,
        nice: int,
        access_log: bool = False,
    ):
        nginx = shutil.which("nginx") or (
            "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
        )
        if nginx is None:
            raise RuntimeError(
                "nginx is not installed (Debian: apt-get install nginx-light); "
                "or run the demo's layout, one uvicorn, with --layout single"
            )
        self.parts: list[LiveServer] = []
        self.usage = Usage()
        try:
            pages = self._start(
                env=env,
                log_path=folder / "gunicorn.log",
                command=lambda port: gunicorn_command(
                    port, workers, threads, access_log=access_log
                ),
            )
            streams = self._start(
                env=env,
                log_path=folder / "uvicorn.log",
                command=lambda port: uvicorn_command(port, stream_workers, access_log=access_log),
                nice=nice,
            )
            site = folder / "nginx"
            site.mkdir()
            port = free_port()
            conf = nginx_conf(
                site,
                listen=port,
                pages=pages.port,
                streams=streams.port,
                static_root=Path(env["VAR_DIR"]) / "staticfiles",
            )
            errors = str(site / "nginx-error.log")
            command = [nginx, "-p", str(site), "-c", str(conf), "-e", errors, "-g", "daemon off;"]
            # Ready when a page comes back through it: the route to gunicorn works.
            self.front = self._start(
                env=env, log_path=folder / "nginx.log", command=lambda _: command, port=port
            )
        except BaseException:
            self.stop()
            raise
        self.url, self.port = self.front.url, self.front.port
        self.pages, self.streams = pages, streams

    def _start(self, **options) -> LiveServer:
        part = LiveServer(**options)
        self.parts.append(part)
        return part

    @property
    def roots(self) -> list[int]:
        return [part.proc.pid for part in self.parts]

    def sample(self) -> None:
        self.usage.sample(*(part.proc.pid for part in self.parts if part.proc.poll() is None))

    def log_text(self) -> str:
        return "".join(part.log_text() for part in self.parts)

    def stop(self, timeout: float = 20) -> None:
        self.sample()
        for part in reversed(self.parts):
            part.stop(timeout)

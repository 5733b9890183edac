"""bench/_live.py: production's nginx configuration as the load bench and the browser
test run it (the servers themselves run in tests/e2e/test_production_layout.py)."""

import shutil
import subprocess
from pathlib import Path

import pytest

from bench import _live
from bench._live import nginx_conf


def _nginx() -> str:
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(found).exists(), "nginx is not installed: ./scripts/ensure-services.sh"
    return found


def test_the_template_is_filled_in_and_nginx_accepts_the_result(tmp_path):
    conf = nginx_conf(tmp_path, listen=8101, pages=8102, streams=8103, static_root=tmp_path)
    site = (tmp_path / "site.conf").read_text()
    assert "${" not in site
    assert "listen 127.0.0.1:8101;" in site
    assert "server 127.0.0.1:8102;" in site and "server 127.0.0.1:8103;" in site
    assert f"alias {tmp_path}/;" in site
    assert "$http_host" in site  # nginx's own variables are left alone
    done = subprocess.run(
        [_nginx(), "-t", "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "e.log")],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "syntax is ok" in done.stderr


def test_without_nginx_the_split_tier_says_what_to_install_and_starts_nothing(
    monkeypatch, tmp_path
):

    started = []
    monkeypatch.setattr(_live.shutil, "which", lambda name: None)
    monkeypatch.setattr(_live.Path, "exists", lambda self: False)
    monkeypatch.setattr(_live, "LiveServer", lambda **options: started.append(options))
    with pytest.raises(RuntimeError, match="nginx-light.*--layout single"):
        _live.SplitServer(env={}, folder=tmp_path, workers=1, threads=1, stream_workers=1, nice=0)
    assert started == []

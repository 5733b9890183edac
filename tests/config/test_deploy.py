"""Production settings: `check --deploy` passes with no warnings, HTTPS behind a proxy, and
a Content Security Policy that the templates keep (no inline script or style)."""

import json
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.helpers import make_study, url

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "a-long-random-test-key-" + "x7Kq9PzR2mWv4LtN8bYc" * 3,
    "ALLOWED_HOSTS": "mge.example.org",
}


def _run(code: list[str], **variables: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in variables}
    environment.update({"DJANGO_SETTINGS_MODULE": "config.settings", **variables})
    return subprocess.run(
        [sys.executable, *code], cwd=ROOT, env=environment, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def _check_deploy(**variables: str) -> subprocess.CompletedProcess:
    return _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **variables)


def test_check_deploy_passes_with_no_warnings_in_production():
    done = _check_deploy(**PRODUCTION)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues (0 silenced)." in done.stdout


def test_check_deploy_would_warn_without_hsts_or_ssl_redirect():
    done = _check_deploy(**PRODUCTION, SECURE_HSTS_SECONDS="0", SECURE_SSL_REDIRECT="false")
    assert done.returncode != 0
    assert "security.W004" in done.stderr + done.stdout
    assert "security.W008" in done.stderr + done.stdout


def _settings(**variables: str) -> dict:
    names = [
        "SECURE_PROXY_SSL_HEADER",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "DATA_UPLOAD_MAX_MEMORY_SIZE",
    ]
    # The settings module alone, without setting up the apps: fast, and enough here.
    code = (
        "import json; from config import settings; "
        f"print(json.dumps({{n: getattr(settings, n, None) for n in {names!r}}}))"
    )
    done = _run(["-c", code], **variables)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_production_defaults_and_the_proxy_setting():
    plain = _settings(**PRODUCTION)
    assert plain["SECURE_SSL_REDIRECT"] is True
    assert plain["SECURE_HSTS_SECONDS"] >= 31_536_000
    assert plain["SESSION_COOKIE_SECURE"] is True and plain["CSRF_COOKIE_SECURE"] is True
    # Without BEHIND_PROXY, X-Forwarded-Proto is not trusted: anyone could send it.
    assert plain["SECURE_PROXY_SSL_HEADER"] is None
    proxied = _settings(**PRODUCTION, BEHIND_PROXY="true")
    assert proxied["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


@pytest.mark.django_db
def test_behind_a_proxy_https_requests_are_served_and_plain_ones_redirected(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert client.get("/").status_code == 301
    assert client.get("/", HTTP_X_FORWARDED_PROTO="https").status_code == 200
    # The container's health check speaks plain HTTP inside the network.
    assert client.get("/healthz").status_code == 200


@pytest.mark.django_db
def test_every_page_carries_the_content_security_policy_in_development_too(client, settings):
    settings.DEBUG = True
    study = make_study()
    for path in [url(study), url(study, "consent"), f"{url(study)}?pid=%00"]:
        response = client.get(path, follow=True)
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy
        assert "style-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response["X-Frame-Options"] == "DENY"


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "an inline <script>"),
    (re.compile(r"<style\b", re.I), "a <style> element"),
    (re.compile(r"\sstyle=", re.I), "a style attribute"),
    (re.compile(r"\son[a-z]+=", re.I), "an on... event attribute"),
    (re.compile(r"\bhx-on\b|hx-on:|javascript:", re.I), "inline JavaScript"),
]


def test_no_template_has_inline_script_or_style():
    """The policy allows neither; a template that needs a width uses data-percent."""
    found = []
    for path in sorted((ROOT / "templates").rglob("*.html")):
        text = path.read_text()
        for pattern, what in INLINE:
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(ROOT)}:{line}: {what}")
    assert not found, "\n".join(found)


def test_htmx_does_not_inject_its_indicator_styles():
    base = (ROOT / "templates" / "base.html").read_text()
    assert '"includeIndicatorStyles":false' in base
    assert '"attributesToSettle":["class","width","height"]' in base

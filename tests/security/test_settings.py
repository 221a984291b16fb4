"""Findings 2 and 7, acceptance 2: secure defaults, checked on the settings module as a fresh
process loads it (the test run's own settings turn several of them off for plain-HTTP servers)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time

import jwt
import pytest
from django.conf import settings

from tests.processes import ROOT

# The production settings of README.md ("Running it in production"), with a real key.
PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_ALLOWED_HOSTS": "dash.example.org",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://dash.example.org",
    "REDIS_URL": "redis://redis.internal:6379/0",
}


def fresh_env(tmp_path, **values: str) -> dict[str, str]:
    """This process's environment without any setting the test run chose."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "INGEST_", "REDIS_", "HEALTH_", "STREAMS_", "KIOSK_", "LOGIN_"))
    }
    env.update({"FUNDRAISER_VAR_DIR": str(tmp_path), "REDIS_URL": settings.REDIS_URL, **values})
    return env


def run_python(env: dict[str, str], code: str) -> subprocess.CompletedProcess:
    script = "import os, django\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings')\n"
    return subprocess.run(
        [sys.executable, "-c", script + code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def setting(env: dict[str, str], name: str) -> str:
    done = run_python(env, f"from django.conf import settings\nprint(repr(settings.{name}))")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_debug_is_off_unless_asked_for_and_there_is_no_default_key(tmp_path):
    assert setting(fresh_env(tmp_path, DJANGO_SECRET_KEY="k" * 50), "DEBUG") == "False"

    refused = run_python(fresh_env(tmp_path), "django.setup()")
    assert refused.returncode != 0 and "DJANGO_SECRET_KEY must be set" in refused.stderr

    # DEBUG for local development: a random key kept in the var dir, never one from the source.
    first = setting(fresh_env(tmp_path / "a", DJANGO_DEBUG="1"), "SECRET_KEY")
    again = setting(fresh_env(tmp_path / "a", DJANGO_DEBUG="1"), "SECRET_KEY")
    other = setting(fresh_env(tmp_path / "b", DJANGO_DEBUG="1"), "SECRET_KEY")
    assert first == again and first != other and len(first) > 50
    assert "dev-only" not in first and "insecure" not in first


@pytest.mark.django_db
def test_event_streams_refuse_signed_stream_metadata_instead_of_failing(client):
    from tests.factories import make_campaign

    make_campaign(slug="demo")
    garbage = client.get("/c/demo/events/?es-meta=garbage")
    assert garbage.status_code == 400

    # es-meta names any channels (the ticker's, another campaign's) when signed with the key: a
    # leaked or well-known key must not open them.
    forged = jwt.encode(
        {"channels": ["campaign-demo.gifts"], "exp": int(time.time()) + 60}, settings.SECRET_KEY, "HS256"
    )
    assert client.get(f"/c/demo/events/?es-meta={forged}").status_code == 400
    assert client.get("/c/demo/events/?recover=true").status_code == 400


def test_manage_py_check_deploy_is_clean_with_the_production_settings(tmp_path):
    env = fresh_env(tmp_path, DJANGO_SECRET_KEY=secrets.token_urlsafe(50), **PRODUCTION)
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "System check identified no issues (0 silenced)." in done.stdout, done.stdout + done.stderr
    assert "WARNINGS" not in done.stdout + done.stderr


def test_production_answers_with_hsts_a_csp_and_redirects_plain_http(tmp_path):
    env = fresh_env(tmp_path, DJANGO_SECRET_KEY=secrets.token_urlsafe(50), **PRODUCTION)
    env["REDIS_URL"] = settings.REDIS_URL
    code = """
django.setup()
from django.test import Client
client = Client(HTTP_HOST="dash.example.org")
secure = client.get("/admin/login/", secure=True)
plain = client.get("/admin/login/")
probe = client.get("/healthz-not-redirected-is-only-healthz")
print(secure.status_code, "|", secure.get("Strict-Transport-Security"), "|", secure.get("Content-Security-Policy"))
print(plain.status_code, plain.get("Location"))
print(probe.status_code)
print([(c.key, c["secure"]) for c in secure.cookies.values()])
"""
    done = run_python(env, code)
    assert done.returncode == 0, done.stderr
    secure_line, plain_line, probe_line, cookies = done.stdout.strip().splitlines()[-4:]
    status, hsts, csp = (part.strip() for part in secure_line.split("|"))
    assert status == "200"
    assert hsts == "max-age=31536000; includeSubDomains; preload"
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert plain_line == "301 https://dash.example.org/admin/login/"
    assert probe_line == "301"  # only /healthz itself is exempt (load balancers probe over HTTP)
    assert "('csrftoken', True)" in cookies

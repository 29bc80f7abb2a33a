"""docker/compose.yml, checked statically (no image can be pulled here): health checks, start order, one beat."""

import os
import subprocess
import sys

import pytest
import yaml
from django.urls import reverse

from tests.conftest import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker" / "compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ("web", "worker", "beat")


def command(service: str) -> list[str]:
    return SERVICES[service]["command"]


@pytest.mark.parametrize("service", ["db", "redis", "web"])
def test_it_health_checks_the_database_redis_and_web(service):
    check = SERVICES[service]["healthcheck"]
    assert check["test"][0] == "CMD" and len(check["test"]) > 1 and check["retries"] >= 3


def test_the_web_health_check_probes_the_health_view():
    assert f"http://127.0.0.1:8000{reverse('healthz')}" in " ".join(SERVICES["web"]["healthcheck"]["test"])


def test_migrations_run_once_after_the_database_is_healthy():
    migrate = SERVICES["migrate"]
    assert "manage.py migrate" in " ".join(command("migrate")) and migrate["restart"] == "no"
    assert migrate["depends_on"] == {"db": {"condition": "service_healthy"}}


@pytest.mark.parametrize("service", APP_SERVICES)
def test_app_services_start_after_healthy_services_and_a_successful_migration(service):
    assert SERVICES[service]["depends_on"] == {
        "db": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }


def test_beat_is_its_own_service_and_no_worker_embeds_one():
    assert command("beat")[:4] == ["celery", "-A", "benchmark_site", "beat"]
    for service in SERVICES:
        if service != "beat" and "command" in SERVICES[service]:
            assert "beat" not in command(service) and "-B" not in command(service)


@pytest.mark.parametrize("service", ["web", "worker"])
def test_services_that_run_agents_may_use_user_namespaces(service):
    assert "seccomp=unconfined" in SERVICES[service]["security_opt"]


def test_the_build_context_leaves_out_what_a_host_keeps_for_itself():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "var", ".env", "**/__pycache__"} <= set(ignored)
    assert SERVICES["web"]["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}


def test_the_settings_accept_the_environment_compose_gives(tmp_path):
    env = {"PATH": os.environ["PATH"], "GAUNTLET_VAR_DIR": str(tmp_path), **SERVICES["web"]["environment"]}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr

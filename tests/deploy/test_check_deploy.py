"""Django's deploy checklist passes with production settings, and names what is missing when they are not."""

import os
import secrets
import subprocess
import sys

from cryptography.fernet import Fernet

from tests.conftest import ROOT


def production_env(tmp_path) -> dict:
    """What docs/deploy.md asks a production install to set, with made-up values."""
    return {
        "PATH": os.environ["PATH"],
        "GAUNTLET_VAR_DIR": str(tmp_path),
        "GAUNTLET_DEV": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "GAUNTLET_SECRETS_KEY": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "gauntlet.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://gauntlet.example.com",
        "DATABASE_URL": "postgres://gauntlet:secret@db.internal:5432/gauntlet",
        "REDIS_URL": "redis://redis.internal:6379/0",
        "GAUNTLET_TRUST_X_FORWARDED_PROTO": "1",
        "GAUNTLET_STORAGE": "s3",
        "GAUNTLET_S3_BUCKET": "gauntlet-artifacts",
        "GAUNTLET_S3_REGION": "eu-west-1",
    }


def check_deploy(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_passes_the_deploy_checklist_with_production_settings(tmp_path):
    result = check_deploy(production_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_it_names_each_https_setting_missing_without_https(tmp_path):
    result = check_deploy({**production_env(tmp_path), "GAUNTLET_HTTPS": "0"})
    assert result.returncode != 0
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in result.stderr

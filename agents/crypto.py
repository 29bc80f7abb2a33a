"""Agent secrets at rest: encrypted with a key only the deployment has, shown in clear once, never logged.

HTTP signing secrets must be usable (the runner signs with them), so they are encrypted rather than hashed.
The key is ``GAUNTLET_SECRETS_KEY`` when set, else derived from ``SECRET_KEY``; a development install with
the public development ``SECRET_KEY`` gets a random key kept in ``var/secrets.key`` instead.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from functools import cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretUnavailable(Exception):
    """The stored secret cannot be decrypted with this deployment's key (the key changed)."""


def _key_file() -> bytes:
    path = settings.VAR_DIR / "secrets.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: when two processes start at once, one writes the key and both read the same one.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    key = Fernet.generate_key()
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


@cache
def _fernet() -> Fernet:
    configured = os.environ.get("GAUNTLET_SECRETS_KEY", "")
    if configured:
        try:
            return Fernet(configured.encode())
        except ValueError:
            raise ImproperlyConfigured("GAUNTLET_SECRETS_KEY must be a Fernet key (32 url-safe base64 bytes)")
    if settings.SECRET_KEY == settings.DEV_SECRET_KEY:
        return Fernet(_key_file())
    derived = hashlib.sha256(b"gauntlet-agent-secrets:" + settings.SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def new_secret() -> str:
    return "gsk_" + secrets.token_urlsafe(32)


def encrypt(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnavailable("the agent's secret cannot be decrypted with this deployment's key")


def hint(plain: str) -> str:
    """What the pages show of a secret after it was shown once: its last four characters."""
    return f"…{plain[-4:]}" if plain else ""

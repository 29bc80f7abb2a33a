"""Creating, checking and revoking personal API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from api.models import ApiToken

PREFIX = "gt_"
# last_used is written at most this often per token, so a busy CI client does not write on every request.
LAST_USED_RESOLUTION = timedelta(seconds=60)
MAX_TOKENS_PER_USER = 50


class TokenError(ValueError):
    """A token that cannot be created; the message is fit to show the user."""


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_token(user, name: str) -> tuple[ApiToken, str]:
    """A new token for ``user``. Returns (row, clear token): show the clear token once, it is not kept."""
    name = name.strip()
    if not name:
        raise TokenError("give the token a name, e.g. the pipeline that will use it")
    if len(name) > 100:
        raise TokenError("the name is longer than 100 characters")
    if user.api_tokens.count() >= MAX_TOKENS_PER_USER:
        raise TokenError(f"you already have {MAX_TOKENS_PER_USER} tokens; revoke one first")
    key = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, key_hash=_digest(key), prefix=key[:10])
    return token, key


def user_for_token(key: str):
    """The active user ``key`` belongs to, or None. Records when the token was last used."""
    if not key.startswith(PREFIX) or len(key) > 100:
        return None
    token = ApiToken.objects.select_related("user").filter(key_hash=_digest(key)).first()
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    stale = Q(last_used__isnull=True) | Q(last_used__lt=now - LAST_USED_RESOLUTION)
    ApiToken.objects.filter(stale, pk=token.pk).update(last_used=now)
    return token.user


def revoke_token(user, token_id: int) -> bool:
    """Delete one of ``user``'s tokens; requests with it are refused from now on. False if there was none."""
    deleted, _ = ApiToken.objects.filter(user=user, pk=token_id).delete()
    return bool(deleted)

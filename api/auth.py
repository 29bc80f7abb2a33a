"""Who is asking: a personal API token (``Authorization: Bearer``) or, for the pages' own scripts, the session.

A request that carries a token is judged by the token alone. A session request must pass Django's CSRF check on
unsafe methods, as a form post would: a page of another site cannot make a logged-in browser call the API.
"""

from __future__ import annotations

from ninja.errors import HttpError
from ninja.security import HttpBearer
from ninja.utils import check_csrf

from api import tokens

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class TokenOrSession(HttpBearer):
    def __call__(self, request):
        header = request.headers.get("Authorization")
        if header is not None:
            scheme, _, key = header.partition(" ")
            if scheme.lower() != "bearer":
                return None
            return self.authenticate(request, key.strip())
        if request.user.is_authenticated:
            if request.method not in SAFE_METHODS and check_csrf(request):
                raise HttpError(403, "CSRF check failed: send the csrftoken cookie's value as X-CSRFToken.")
            return request.user
        return None

    def authenticate(self, request, token):
        user = tokens.user_for_token(token)
        if user is not None:
            request.user = user
        return user

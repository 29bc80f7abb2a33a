"""The API's one error shape: ``{"error": {"code", "message", "details"}}``.

``code`` is stable (clients switch on it); ``message`` is the sentence the pages show for the same problem;
``details`` is optional structure (the fields that failed, a suite error's line).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from ninja import Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError


class ErrorBody(Schema):
    code: str
    message: str
    details: Any = None


class ErrorOut(Schema):
    error: ErrorBody


class ApiError(Exception):
    """An error to answer with: ``status`` and a stable ``code``, the pages' ``message``, optional ``details``."""

    def __init__(self, status: int, code: str, message: str, details: Any = None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


# The statuses every authenticated operation may answer besides its own: documented on each operation so
# that clients (and the schema test) know them.
COMMON = {401: ErrorOut, 404: ErrorOut, 422: ErrorOut}
# And those of operations that take a body (400: not JSON) and may conflict with what exists (409).
WRITE = {400: ErrorOut, 409: ErrorOut, 413: ErrorOut, **COMMON}
HTTP_CODES = {400: "bad_request", 403: "forbidden", 405: "method_not_allowed", 429: "throttled"}


def _body(code: str, message: str, details: Any = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details}}


def _location(error: dict) -> str:
    return ".".join(str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path", "payload"))


def install(api) -> None:
    """Answer every error the API raises in the shape above."""

    def api_error(request, exc: ApiError):
        return api.create_response(request, _body(exc.code, exc.message, exc.details), status=exc.status)

    def invalid(request, exc: ValidationError):
        first = exc.errors[0] if exc.errors else {}
        where = _location(first)
        message = f"{where}: {first.get('msg', 'invalid')}" if where else first.get("msg", "the request is invalid")
        details = [{"field": _location(e), "message": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors]
        return api.create_response(request, _body("invalid", message, details), status=422)

    def unauthenticated(request, exc: AuthenticationError):
        response = api.create_response(
            request,
            _body("unauthenticated", "Send a valid API token as 'Authorization: Bearer <token>', or log in."),
            status=401,
        )
        response["WWW-Authenticate"] = "Bearer"
        return response

    def http_error(request, exc: HttpError):
        code = HTTP_CODES.get(exc.status_code, "error")
        if exc.status_code == 403 and "CSRF" in exc.message:
            code = "csrf_failed"
        return api.create_response(request, _body(code, exc.message), status=exc.status_code)

    def not_found(request, exc: Http404):
        return api.create_response(request, _body("not_found", "Not found, or not yours to see."), status=404)

    def too_large(request, exc: RequestDataTooBig):
        limit_mib = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / (1024 * 1024)
        message = f"The request is larger than the {limit_mib:g} MiB the server accepts."
        return api.create_response(request, _body("too_large", message), status=413)

    api.add_exception_handler(ApiError, api_error)
    api.add_exception_handler(RequestDataTooBig, too_large)
    api.add_exception_handler(ValidationError, invalid)
    api.add_exception_handler(AuthenticationError, unauthenticated)
    api.add_exception_handler(HttpError, http_error)
    api.add_exception_handler(Http404, not_found)

"""The REST API, version 1: ``/api/v1/``, its OpenAPI document at ``/api/v1/openapi.json``, docs at ``/api/v1/docs``.

Every operation acts as the caller (a personal token, or the session of the pages' own scripts) and checks
team ownership as the pages do: built-in and public things, and the caller's teams' things; anything else is
a 404, never acknowledged.
"""

import functools
import inspect

from ninja import NinjaAPI

from api import errors
from api.auth import TokenOrSession
from api.pagination import PageParams
from api.routes import agents, episodes, runs, suites


def reject_unknown_query(view):
    """Refuse a query parameter the operation does not take (a misspelt filter would otherwise be ignored and
    a CI job would read the wrong list). An operation's parameters are its view's arguments, and ``page`` stands
    for the pagination parameters."""
    parameters = set(inspect.signature(view).parameters) - {"request", "payload"}
    if "page" in parameters:
        parameters = (parameters - {"page"}) | set(PageParams.model_fields)

    @functools.wraps(view)
    def checked(request, *args, **kwargs):
        unknown = sorted(set(request.GET) - parameters)
        if unknown:
            takes = ", ".join(sorted(parameters)) or "none"
            message = f"unknown query parameter {unknown[0][:40]!r}; this operation takes: {takes}"
            raise errors.ApiError(422, "invalid", message, {"unknown": [name[:40] for name in unknown[:10]]})
        return view(request, *args, **kwargs)

    return checked


api = NinjaAPI(
    title="Gauntlet API",
    version="1",
    description=(
        "Agents, suites, runs, episodes, bundles and leaderboards of Gauntlet. Authenticate with a personal API "
        "token (the **API tokens** page) as `Authorization: Bearer <token>`. Errors are "
        '`{"error": {"code", "message", "details"}}`; lists are pages `{"count", "limit", "offset", "next", '
        '"items"}` (`limit` at most 100).'
    ),
    auth=TokenOrSession(),
    urls_namespace="api-v1",
)
errors.install(api)
api.add_decorator(reject_unknown_query)
for module in (agents, suites, runs, episodes):
    api.add_router("", module.router)

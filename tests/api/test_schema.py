"""Schemathesis against the live API: Daphne serving the real ASGI app on the test database, authenticated with a
real token. Every operation of the OpenAPI document gets EXAMPLES generated requests of valid data and EXAMPLES
of invalid data, then one request on real objects (a played run, its episode, a built-in agent and suite), and
every response must be no 5xx and match the document: status code, content type and body.

Nothing is excluded. POST /api/v1/runs starts real runs when it draws a visible agent and suite: the server
runs with its own key prefix, so those runs' episodes wait on a queue no worker reads, and the test deletes
that queue's keys at the end.
"""

import os
import time

import pytest
import redis
import schemathesis
from django.conf import settings as django_settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from agents.models import Agent
from api import tokens
from runs.models import Suite
from tests.conftest import serving_asgi

pytestmark = pytest.mark.services

EXAMPLES = 10
CONFORMANCE = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def rejects_invalid_data(ctx, response, case):
    """Schemathesis's negative_data_rejection, with 413 (a body over the server's limit, `too_large`) among the
    rejections: it is one, documented on every operation that takes a body."""
    if response.status_code == 413:
        return None
    return negative_data_rejection(ctx, response, case)


def explore(operation, mode, checks, base_url: str, headers: dict, sent: list) -> None:
    """EXAMPLES generated requests of ``operation`` in ``mode``, each response judged by ``checks``."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis_settings(
        max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
    )
    def check(case):
        # The token replaces whatever the case made up, unless a negative case left the header out on purpose.
        if mode == GenerationMode.POSITIVE or "Authorization" in (case.headers or {}):
            case.headers = {**(case.headers or {}), **headers}
        response = case.call_and_validate(base_url=base_url, checks=checks, timeout=60)
        sent.append(response.status_code)

    check()


@pytest.fixture
def live_api(transactional_db, played_run, tmp_path):
    prefix = f"{os.environ['GAUNTLET_PREFIX']}-schema"
    with serving_asgi(tmp_path / "daphne.log", GAUNTLET_PREFIX=prefix) as (url, _):
        yield url
    store = redis.Redis.from_url(django_settings.REDIS_URL)
    for key in store.scan_iter(match=f"{prefix}*"):
        store.delete(key)


def test_every_operation_keeps_to_the_document(live_api, played_run):
    run, user = played_run
    headers = {"Authorization": f"Bearer {tokens.create_token(user, 'schemathesis')[1]}"}
    schema = schemathesis.openapi.from_url(f"{live_api}/api/v1/openapi.json")
    real = {
        "run_id": run.pk,
        "episode_id": run.episodes.filter(status="scored").first().pk,
        "agent_id": Agent.objects.get(name="oracle").pk,
        "suite_id": Suite.objects.get(name="smoke").pk,
        "number": 1,
    }
    started, sent = time.monotonic(), []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        explore(operation, GenerationMode.POSITIVE, CONFORMANCE, live_api, headers, sent)
        explore(operation, GenerationMode.NEGATIVE, [*CONFORMANCE, rejects_invalid_data], live_api, headers, sent)
        if operation.method.upper() == "GET":
            names = {p.name for p in operation.path_parameters}
            case = operation.Case(path_parameters={name: real[name] for name in names})
            response = case.call_and_validate(base_url=live_api, headers=headers, checks=CONFORMANCE, timeout=60)
            assert response.status_code in (200, 404), (operation.label, response.status_code, response.text[:500])
    statuses = {code: sent.count(code) for code in sorted(set(sent))}
    took = time.monotonic() - started
    print(f"schemathesis: {len(operations)} operations, {len(sent)} requests {statuses}, {took:.0f} s")
    assert any(200 <= code < 300 for code in sent) and any(400 <= code < 500 for code in sent)

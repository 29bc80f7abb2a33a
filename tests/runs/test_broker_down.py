"""Starting a run while the broker is down keeps the run; it starts by itself once the broker is back."""

import socket

import pytest
from celery import current_app
from django.urls import reverse

from agents.models import Agent
from runs import services
from runs.models import Episode, Run, Suite

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_down():
    """Point this process's Celery app at a loopback port where nothing listens, for the test's duration."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    previous = current_app.conf.broker_url
    current_app.conf.broker_url = f"redis://127.0.0.1:{port}/0"
    drop_broker_connections()
    yield
    current_app.conf.broker_url = previous
    drop_broker_connections()


def drop_broker_connections():
    # What Celery does after a fork: the next message opens a connection to the configured broker.
    current_app._pool = None
    current_app.amqp._producer_pool = None


@pytest.fixture
def logged_in(client, builtins, team_user):
    team, user = team_user
    client.force_login(user)
    return client


def start(client):
    return client.post(
        reverse("runs:start"),
        {
            "agent_version": Agent.objects.get(name="oracle").latest_version().pk,
            "suite": Suite.objects.get(name="smoke").pk,
            "trials": 1,
            "seed": 0,
        },
        follow=True,
    )


def test_it_keeps_the_run_and_its_queued_episodes(logged_in, broker_down, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = start(logged_in)
    assert response.status_code == 200
    run = Run.objects.get()
    assert run.status == Run.QUEUED
    # None was sent: each waits for the dispatcher, which the reaper calls at every pass.
    assert {(e.status, e.enqueued_at) for e in run.episodes.all()} == {(Episode.QUEUED, None)}
    assert run.episodes.filter(dispatch_order__isnull=True).count() == 0


# These commit for real, so the view sees what happened to the messages before it answers.
@pytest.mark.django_db(transaction=True)
def test_it_says_on_the_page_that_the_run_waits_for_the_queue(logged_in, broker_down):
    response = start(logged_in)
    assert b"The job queue cannot be reached right now" in response.content


@pytest.mark.django_db(transaction=True)
def test_it_says_nothing_when_the_queue_answers(logged_in):
    response = start(logged_in)
    current_app.control.purge()
    assert b"The job queue cannot be reached" not in response.content


def test_it_leaves_every_episode_to_the_reaper(builtins, team_user, broker_down, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = services.queue_run(
            agent_version=Agent.objects.get(name="oracle").latest_version(), suite=Suite.objects.get(name="smoke")
        )
    assert run.enqueue_deferred

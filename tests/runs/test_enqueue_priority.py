"""Episodes put back in the queue overtake the backlog of fresh ones, so a dead worker's episode runs soon."""

import pytest
from celery import current_app
from django.conf import settings

from agents.models import Agent
from runs import services
from runs.models import Suite

pytestmark = pytest.mark.django_db


@pytest.fixture
def episode_ids(builtins, team_user):
    current_app.control.purge()
    run = services.queue_run(
        agent_version=Agent.objects.get(name="oracle").latest_version(),
        suite=Suite.objects.get(name="smoke"),
        team=team_user[0],
        enqueue=False,
    )
    yield list(run.episodes.order_by("pk").values_list("pk", flat=True))
    current_app.control.purge()


def next_message_args():
    with current_app.connection_for_read() as connection:
        message = connection.default_channel.basic_get(settings.CELERY_TASK_DEFAULT_QUEUE, no_ack=True)
    return message.decode()[0]


def test_it_delivers_a_returning_episode_before_fresh_ones(episode_ids):
    fresh, returning = episode_ids[:2]
    assert services.enqueue_episodes([fresh])
    assert services.enqueue_episodes([returning], returning=True)
    assert next_message_args() == [returning]

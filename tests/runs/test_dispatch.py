"""Fair dispatch: the broker gets a few episodes at a time, teams and scenarios interleaved, limits kept."""

import pytest
from celery import current_app
from django.conf import settings

from agents.models import Agent, Team
from runs import dispatch, services
from runs.models import Episode, Suite
from tests.runs.test_broker_down import broker_down  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def empty_queue():
    current_app.control.purge()
    yield
    current_app.control.purge()


@pytest.fixture
def queue(builtins, empty_queue, django_capture_on_commit_callbacks):
    """``queue(team, trials)`` queues an oracle run on the smoke suite (3 scenarios) and dispatches it."""

    def queue_run(team, trials=1, suite="smoke"):
        with django_capture_on_commit_callbacks(execute=True):
            return services.queue_run(
                agent_version=Agent.objects.get(name="oracle").latest_version(),
                suite=Suite.objects.get(name=suite),
                team=team,
                trials=trials,
            )

    return queue_run


def sent(run):
    return list(run.episodes.filter(dispatch.IN_FLIGHT).order_by("enqueued_at", "dispatch_order"))


def claim(episodes):
    for episode in episodes:
        assert episode.claim("test", 60)


def test_it_sends_only_as_many_as_the_setting(queue, settings):
    settings.GAUNTLET_DISPATCH_AHEAD = 2
    run = queue(None, trials=4)
    assert len(sent(run)) == 2
    assert run.episodes.filter(dispatch.PENDING).count() == 10


def test_it_sends_a_whole_run_smaller_than_the_room(queue, settings):
    settings.GAUNTLET_DISPATCH_AHEAD = 5
    run = queue(None)
    assert len(sent(run)) == 3


def test_it_sends_one_trial_of_every_scenario_first(queue, settings):
    settings.GAUNTLET_DISPATCH_AHEAD = 3
    run = queue(None, trials=4)
    assert {(e.scenario_id, e.trial) for e in sent(run)} == {(s.pk, 0) for s in run.suite.scenarios.all()}


def test_it_orders_a_run_the_same_way_for_the_same_seed():
    assert dispatch.dispatch_orders(5, 3, seed=7) == dispatch.dispatch_orders(5, 3, seed=7)
    orders = dispatch.dispatch_orders(5, 3, seed=7)
    assert sorted(orders.values()) == list(range(15))
    assert {position for (position, trial), order in orders.items() if order < 5} == set(range(5))


def test_it_tops_up_the_broker_when_a_worker_claims(queue, settings):
    settings.GAUNTLET_DISPATCH_AHEAD = 2
    run = queue(None, trials=4)
    claim(sent(run))
    assert dispatch.dispatch()
    assert len(sent(run)) == 2
    assert run.episodes.filter(status=Episode.RUNNING).count() == 2


def test_it_serves_a_team_with_nothing_in_play_first(queue, settings):
    settings.GAUNTLET_DISPATCH_AHEAD = 2
    big = queue(Team.objects.create(name="big"), trials=10)
    claim(sent(big))
    small = queue(Team.objects.create(name="small"))
    assert len(sent(small)) == 2
    assert sent(big) == []


def test_it_alternates_teams_with_as_many_in_play(queue, settings):
    settings.GAUNTLET_DISPATCH_AHEAD = 1
    one, two = Team.objects.create(name="one"), Team.objects.create(name="two")
    first = queue(one, trials=5)
    second = queue(two, trials=5)
    for _ in range(3):
        claim(sent(first) + sent(second))
        dispatch.dispatch()
    counts = [r.episodes.exclude(dispatch.PENDING).count() for r in (first, second)]
    assert abs(counts[0] - counts[1]) <= 1 and sum(counts) == 5


def test_it_keeps_a_team_within_its_limit(queue, settings):
    settings.GAUNTLET_DISPATCH_AHEAD = 4
    settings.GAUNTLET_TEAM_MAX_RUNNING = 3
    greedy = queue(Team.objects.create(name="greedy"), trials=10)
    claim(sent(greedy))
    assert dispatch.dispatch()
    claim(sent(greedy))
    assert greedy.episodes.exclude(dispatch.PENDING).count() == 3
    other = queue(Team.objects.create(name="other"), trials=2)
    assert len(sent(other)) == 3  # the team limit, not the room in the broker (4)


def test_it_counts_the_runs_with_no_team_as_one_team(queue, settings):
    settings.GAUNTLET_DISPATCH_AHEAD = 4
    settings.GAUNTLET_TEAM_MAX_RUNNING = 2
    runs = [queue(None, trials=2), queue(None, trials=2)]
    assert sum(len(sent(run)) for run in runs) == 2


def test_it_never_sends_what_its_caller_plays_itself(builtins, empty_queue):
    run = services.queue_run(
        agent_version=Agent.objects.get(name="oracle").latest_version(),
        suite=Suite.objects.get(name="smoke"),
        enqueue=False,
    )
    assert dispatch.dispatch()
    assert set(run.episodes.values_list("enqueued_at", flat=True)) == {None}


def test_it_leaves_episodes_waiting_when_the_broker_is_down(queue, broker_down):  # noqa: F811
    run = queue(None, trials=2)
    assert run.enqueue_deferred
    assert run.episodes.filter(dispatch.PENDING).count() == 6


def test_the_reaper_dispatches_what_waits(builtins, empty_queue, settings, django_capture_on_commit_callbacks):
    settings.GAUNTLET_DISPATCH_AHEAD = 2
    # Under the `db` fixture nothing commits, so queue_run's dispatch never runs: as if the broker was down.
    run = services.queue_run(
        agent_version=Agent.objects.get(name="oracle").latest_version(), suite=Suite.objects.get(name="smoke")
    )
    assert sent(run) == []
    with django_capture_on_commit_callbacks(execute=True):
        services.reap_stranded_episodes()
    assert len(sent(run)) == 2


def test_fifo_sends_every_episode_at_once(queue, settings):
    settings.GAUNTLET_FAIR_DISPATCH = False
    run = queue(None, trials=2)
    assert len(sent(run)) == 6
    assert set(run.episodes.values_list("dispatch_order", flat=True)) == {None}


def next_message_args():
    with current_app.connection_for_read() as connection:
        message = connection.default_channel.basic_get(settings.CELERY_TASK_DEFAULT_QUEUE, no_ack=True)
    return message.decode()[0]


def test_it_sends_one_episode_of_an_idle_team_when_the_room_is_taken(queue, settings):
    settings.GAUNTLET_DISPATCH_AHEAD = 2
    big = queue(Team.objects.create(name="big"), trials=10)
    small = queue(Team.objects.create(name="small"))
    assert (len(sent(big)), len(sent(small))) == (2, 1)


def test_it_sends_the_first_episode_of_an_idle_team_ahead_of_waiting_ones(queue, settings):
    settings.GAUNTLET_DISPATCH_AHEAD = 2
    big = queue(Team.objects.create(name="big"), trials=10)
    claim(sent(big))
    current_app.control.purge()
    assert dispatch.dispatch()
    waiting = sent(big)
    claim(waiting)  # in the broker still, as if the workers had not taken them yet
    small = queue(Team.objects.create(name="small"))
    assert next_message_args() == [sent(small)[0].pk]

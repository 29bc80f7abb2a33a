"""Fair dispatch: which queued episodes the broker gets next, so teams and scenarios share the workers.

Workers take messages first in, first out. Were every episode of a run sent when it is queued, a team's
10,000-episode run would hold every worker until it ended, and its first results would all be of one
scenario. So the broker holds only a few fresh messages, and this module picks them from the database:

- At most ``GAUNTLET_DISPATCH_AHEAD`` episodes are *in flight* (queued, sent, not yet claimed). A run started
  behind a huge one therefore waits behind that many messages, not behind the huge run.
- Each free place goes to the team (the runs with no team count as one) with the fewest episodes in play
  (running or in flight), then among that team's runs to the one with the fewest in play, older first, then
  to that run's next episode in dispatch order: every scenario's trial 0 in a shuffled order (seeded by the
  run's seed), then every trial 1, and so on, so a run's first results cover its scenarios and conditions.
- A team with nothing in play gets one episode sent at once, even when the room is taken, and ahead of the
  fresh messages already waiting (a priority between a returning episode's and a fresh one's), so a small
  run queued behind a huge one starts at the next free worker slot.
- A team never has more than ``GAUNTLET_TEAM_MAX_RUNNING`` episodes in play (0: no limit); its other
  episodes wait while other teams' use the free workers.

``dispatch()`` is called after a run is queued, after a worker claims an episode (a place in flight is free)
and after an episode ends (a team's slot is free), and by the reaper at every pass. Concurrent callers are
serialized (a transaction-scoped advisory lock on PostgreSQL; SQLite's write lock, taken at the start of the
transaction, elsewhere), so the counts each one reads are not stale and an episode is marked sent once.

The database stays the source of truth. An episode waiting for the dispatcher is ``queued`` with no
``enqueued_at`` and a ``dispatch_order``; being sent stamps ``enqueued_at`` in the same transaction that
picks it, and the message goes out after the commit. A broker that cannot be reached un-stamps the episodes
it did not take, so they wait for the next call (the reaper's pass, every ``GAUNTLET_REAPER_INTERVAL_S``).
A process killed between the commit and the send, or a message lost with Redis, leaves an episode stamped and
unclaimed: the reaper sends it again ``GAUNTLET_REQUEUE_AFTER_S`` later, as for any lost message. Dead
workers' episodes and retries are sent at once (ahead of fresh ones, as before) and count as in flight. A
message delivered twice still plays its episode once: the claim is a conditional UPDATE.

Why a dispatcher rather than messages that name no episode (a worker claiming the fairest queued episode
when it takes one): such a message could find every queued episode held back by its team's limit, and would
have to be dropped and sent again later by someone, which is this dispatcher anyway; and messages naming
their episode keep everything the reaper, the duplicate-delivery claim and retries already rely on.

With ``GAUNTLET_FAIR_DISPATCH`` off, ``queue_run`` sends every episode at once in suite order, as before,
and this module does nothing.
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnreachable

from runs.models import Episode, Run

log = logging.getLogger(__name__)

PENDING = Q(status=Episode.QUEUED, enqueued_at__isnull=True, dispatch_order__isnull=False)
IN_FLIGHT = Q(status=Episode.QUEUED, enqueued_at__isnull=False)
IN_PLAY = Q(status=Episode.RUNNING) | IN_FLIGHT

# Between a returning episode's (0) and a fresh one's (CELERY_TASK_DEFAULT_PRIORITY, 6); Redis serves 0 first.
NEWCOMER_PRIORITY = 3
# pg_advisory_xact_lock's key: any constant; advisory locks are per database.
_LOCK_KEY = 0x6761756E  # "gaun"
# Without PostgreSQL, threads of one process are serialized here and processes by SQLite's write lock.
_local_lock = threading.Lock()


def dispatch_orders(scenario_count: int, trials: int, seed: int) -> dict[tuple[int, int], int]:
    """The dispatch order of each (scenario position, trial) of a run: trial by trial, and within a trial
    the scenarios in an order shuffled by ``seed`` (another one for each trial), so whatever prefix of the
    run has been played covers its scenarios evenly. Deterministic."""
    orders = {}
    for trial in range(trials):
        positions = list(range(scenario_count))
        random.Random(f"{seed}:{trial}").shuffle(positions)
        for rank, position in enumerate(positions):
            orders[(position, trial)] = trial * scenario_count + rank
    return orders


@dataclass
class _Candidate:
    run_id: int
    team_id: int | None
    in_play: int
    # Its next episodes: the first ``room`` of them, fetched once when it is first chosen (no pass sends more).
    waiting: list[int] | None = None


def dispatch() -> bool:
    """Send the fairest pending episodes until ``GAUNTLET_DISPATCH_AHEAD`` are in flight. Returns False when
    the broker could not be reached (what was not sent waits for the next call), True otherwise.

    Safe to call at any time, from any process, any number of times: callers are serialized and each episode
    is marked sent by a conditional UPDATE. Call it outside a transaction that holds episode rows, or after
    its commit: it waits for the dispatch lock, and the lock's holder may be waiting for those rows.
    """
    if not settings.GAUNTLET_FAIR_DISPATCH:
        return True
    with _serialized():
        picked = _pick()
        if not picked:
            return True
        stamp = timezone.now()
        # Conditional: an episode cancelled or sent meanwhile is left alone.
        marked = Episode.objects.filter(PENDING, pk__in=picked).update(enqueued_at=stamp)
        if marked != len(picked):
            still = set(Episode.objects.filter(pk__in=picked, enqueued_at=stamp).values_list("pk", flat=True))
            picked = {pk: priority for pk, priority in picked.items() if pk in still}
    return _send(picked, stamp)


class _serialized:
    """A transaction in which no other dispatcher runs."""

    def __enter__(self):
        self.atomic = transaction.atomic()
        if connection.vendor != "postgresql":
            _local_lock.acquire()
        try:
            self.atomic.__enter__()
        except BaseException:
            if connection.vendor != "postgresql":
                _local_lock.release()
            raise
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])

    def __exit__(self, *exc):
        try:
            return self.atomic.__exit__(*exc)
        finally:
            if connection.vendor != "postgresql":
                _local_lock.release()


def _pick() -> dict[int, int | None]:
    """The episodes to send now, in the order to send them, each with its message's priority. Call under the
    dispatch lock."""
    room = settings.GAUNTLET_DISPATCH_AHEAD - Episode.objects.filter(IN_FLIGHT).count()
    runs = list(
        Run.objects.filter(status__in=(Run.QUEUED, Run.RUNNING))
        .filter(Exists(Episode.objects.filter(PENDING, run=OuterRef("pk"))))
        .order_by("created", "pk")
        .values_list("pk", "team_id")
    )
    if not runs:
        return {}
    in_play_by_run: dict[int, int] = {}
    in_play_by_team: dict[int | None, int] = {}
    in_play = Episode.objects.filter(IN_PLAY).values("run_id", "run__team_id").annotate(n=Count("pk")).order_by()
    for row in in_play:
        in_play_by_run[row["run_id"]] = row["n"]
        in_play_by_team[row["run__team_id"]] = in_play_by_team.get(row["run__team_id"], 0) + row["n"]
    # Older runs first among equals; list order is creation order and min() keeps the first of a tie.
    candidates = [_Candidate(run_id, team_id, in_play_by_run.get(run_id, 0)) for run_id, team_id in runs]
    limit = settings.GAUNTLET_TEAM_MAX_RUNNING
    picked: dict[int, int | None] = {}
    while True:
        open_runs = [
            c for c in candidates if c.waiting != [] and not (limit and in_play_by_team.get(c.team_id, 0) >= limit)
        ]
        if not open_runs:
            break
        team_id = min(open_runs, key=lambda c: in_play_by_team.get(c.team_id, 0)).team_id
        idle = not in_play_by_team.get(team_id)
        # A team with nothing in play gets one episode even when the broker's room is taken: it goes out ahead
        # of the fresh messages already waiting (those of busier teams), so it starts at the next free slot.
        # At most one such message per idle team beyond the room.
        if len(picked) >= room and not idle:
            break
        run = min((c for c in open_runs if c.team_id == team_id), key=lambda c: c.in_play)
        if run.waiting is None:
            run.waiting = _next_episodes(run.run_id, max(room, 1))
            if not run.waiting:
                continue
        picked[run.waiting.pop(0)] = NEWCOMER_PRIORITY if idle else None
        run.in_play += 1
        in_play_by_team[team_id] = in_play_by_team.get(team_id, 0) + 1
    return picked


def _next_episodes(run_id: int, n: int) -> list[int]:
    return list(
        Episode.objects.filter(PENDING, run_id=run_id).order_by("dispatch_order").values_list("pk", flat=True)[:n]
    )


def _send(picked: dict[int, int | None], stamp) -> bool:
    """Send a message for each episode; on a broker outage, un-stamp those not sent and return False."""
    from runs.tasks import run_episode

    episode_ids = list(picked)
    for i, episode_id in enumerate(episode_ids):
        options = {} if picked[episode_id] is None else {"priority": picked[episode_id]}
        try:
            run_episode.apply_async((episode_id,), **options)
        except BrokerUnreachable:
            unsent = episode_ids[i:]
            Episode.objects.filter(pk__in=unsent, status=Episode.QUEUED, enqueued_at=stamp).update(enqueued_at=None)
            log.warning("broker unreachable: %s episode(s) wait for the next dispatch", len(unsent), exc_info=True)
            return False
    return True


def dispatch_quietly() -> None:
    """``dispatch()`` for the worker's hooks: an error is logged, never raised, since the episode at hand
    must not fail for it; the reaper's pass dispatches again."""
    try:
        dispatch()
    except Exception:
        log.exception("dispatch failed; the reaper's next pass dispatches again")
        # The database may be what failed: leave the caller a fresh connection rather than a broken one.
        if connection.connection is not None and not connection.in_atomic_block and not connection.is_usable():
            connection.close()


def dispatch_on_commit() -> None:
    """Dispatch once the caller's transaction commits (at once outside one), when fair dispatch is on."""
    if settings.GAUNTLET_FAIR_DISPATCH:
        transaction.on_commit(dispatch_quietly)

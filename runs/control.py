"""Run control: cancel a run, retry its errored episodes, re-run it with other settings.

The run page, the admin and the REST API call these functions and nothing else to change a run's course.

How a running episode learns of a cancel: :func:`cancel_run` moves the run's queued *and* running episodes to
``cancelled`` in one UPDATE. Every write a worker makes for its attempt (a step, a lease renewal, the final
outcome) is already conditional on the episode being ``running`` under that attempt, so the worker's next
step write or lease renewal finds the episode no longer its own, rolls the step back and stops the runner
(runs.services.LeaseLost): at the next step boundary, or within a lease tick (a third of ``GAUNTLET_LEASE_S``)
while a step runs long, at no extra query per step. :func:`settle_cancelled` then stores the attempt's trace
so far. A queued episode's message may still be delivered, and the reaper may still look at it: the claim
takes only queued or expired running episodes and the reaper only those, so a cancelled one is never played.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F
from django.http import Http404
from django.utils import timezone

from agents.services import AgentError
from runs import dispatch, events, selectors
from runs.models import Episode, Run, RunCounters


class RunControlError(ValueError):
    """What was asked cannot be done to this run; the message says why, in words for people."""


@dataclass(frozen=True)
class Cancellation:
    """What :func:`cancel_run` did: ``withdrawn`` queued episodes, ``stopped`` running ones (each stops at its
    next step boundary), or nothing when the run was already cancelled (``already``)."""

    withdrawn: int = 0
    stopped: int = 0
    already: bool = False

    @property
    def message(self) -> str:
        if self.already:
            return "The run was already cancelled; nothing changed."
        parts = [f"{self.withdrawn} queued episode{'s' if self.withdrawn != 1 else ''} withdrawn"]
        if self.stopped:
            parts.append(f"{self.stopped} running episode{'s' if self.stopped != 1 else ''} stopping at the next step")
        return f"Run cancelled: {', '.join(parts)}. Scored episodes are kept."


# The run settings a re-run copies and may change (Run.config keys, as runs.services.queue_run takes them).
RERUN_SETTINGS = (
    "trials",
    "seed",
    "max_steps",
    "backtracking",
    "guard",
    "auto_rollback",
    "max_invalid_actions",
    "playwright_trace",
)


def check_member(run: Run, user) -> None:
    """Raise PermissionDenied unless ``user`` may control ``run``: a member of its team. ``user`` None is the
    site acting itself (the admin, a management command)."""
    if user is None:
        return
    if run.team_id is None or not run.team.members.filter(pk=user.pk).exists():
        raise PermissionDenied("Only a member of the run's team can control it.")


def run_for_member(user, run_id: int) -> Run:
    """The run ``run_id`` for a page or API call that changes it: 404 unless ``user`` is in the run's team, as
    for a run they may not see (a published run or a baseline's is visible to all, controlled by its team)."""
    run = selectors.get_run_for_user(user, run_id)
    try:
        check_member(run, user)
    except PermissionDenied:
        raise Http404("Only the run's team can change it.")
    return run


def cancel_run(run: Run, user) -> Cancellation:
    """Cancel ``run``: withdraw its queued episodes, stop its running ones, end it ``cancelled``.

    What was scored is kept, and the run's stored metrics are computed over it. Idempotent: cancelling a
    cancelled run changes nothing and says so (``already``). Raises RunControlError for a run that already
    ended otherwise (complete or partial: nothing is left to cancel), PermissionDenied for a non-member.
    """
    check_member(run, user)
    with transaction.atomic():
        # The episodes' rows first, then the counters' and the run's: the order every worker's write locks them
        # in (runs.models.Episode.take_step_seq, runs.services.finish_episode), so a cancel cannot deadlock with
        # a step or an outcome being recorded. One that committed first wins: its episode is no longer pending.
        pending = run.episodes.filter(status__in=(Episode.QUEUED, Episode.RUNNING))
        locked = list(pending.select_for_update().values_list("pk", "status"))
        status = Run.objects.values_list("status", flat=True).get(pk=run.pk)
        if status == Run.CANCELLED:
            return Cancellation(already=True)
        if status in Run.FINAL:
            raise RunControlError(f"Run #{run.pk} is already {status}: there is nothing left to cancel.")
        ids = [pk for pk, _ in locked]
        withdrawn = sum(1 for _, s in locked if s == Episode.QUEUED)
        stopped = len(locked) - withdrawn
        now = timezone.now()
        Episode.objects.filter(pk__in=ids).update(status=Episode.CANCELLED, lease_until=None, finished=now)
        RunCounters.objects.filter(run_id=run.pk).update(
            **_plus({"queued": -withdrawn, "running": -stopped, "cancelled": len(ids)})
        )
        Run.objects.filter(pk=run.pk, status__in=(Run.QUEUED, Run.RUNNING)).update(
            status=Run.CANCELLED, finished=now, metrics=selectors.compute_run_metrics(run)
        )
        run.status, run.finished = Run.CANCELLED, now
        _publish_bulk_change(run, Episode.objects.filter(pk__in=ids))
        if ids:
            dispatch.dispatch_on_commit()  # the team's places in play are free for its other runs, and others'
    return Cancellation(withdrawn=withdrawn, stopped=stopped)


def retry_errored(run: Run, user) -> int:
    """Queue the run's ``errored`` episodes again, each for ``GAUNTLET_MAX_ATTEMPTS`` more attempts (an errored
    episode has no outcome, and a claim starts its steps from scratch). Attempt numbers go on from where they
    were, never from 0: a worker that still plays an old attempt (hung past its lease) stays refused. The run
    goes back to ``running`` and ends again when they do. Returns how many were queued.

    Raises RunControlError when the run was cancelled (re-run it instead) or has no errored episode,
    PermissionDenied for a non-member. Safe to call twice: the second finds nothing errored.
    """
    from runs.services import enqueue_episodes

    check_member(run, user)
    with transaction.atomic():
        errored = run.episodes.filter(status=Episode.ERRORED)
        ids = list(errored.select_for_update().values_list("pk", flat=True))
        status = Run.objects.values_list("status", flat=True).get(pk=run.pk)
        if status == Run.CANCELLED:
            raise RunControlError(f"Run #{run.pk} was cancelled: re-run it rather than retry its episodes.")
        if not ids:
            raise RunControlError(f"Run #{run.pk} has no errored episode to retry.")
        # With fair dispatch they wait for the dispatcher like fresh episodes (the team's limit applies to them
        # too); an episode of a run queued before it has no dispatch order and is sent at once.
        fair = settings.GAUNTLET_FAIR_DISPATCH
        waiting = set(errored.filter(dispatch_order__isnull=False).values_list("pk", flat=True)) if fair else set()
        now = timezone.now()
        fresh = dict(
            status=Episode.QUEUED,
            attempt_limit=F("attempts") + settings.GAUNTLET_MAX_ATTEMPTS,
            infra_error="",
            worker="",
            lease_until=None,
            started=None,
            finished=None,
        )
        Episode.objects.filter(pk__in=waiting, status=Episode.ERRORED).update(**fresh, enqueued_at=None)
        Episode.objects.filter(pk__in=ids, status=Episode.ERRORED).update(**fresh, enqueued_at=now)
        RunCounters.objects.filter(run_id=run.pk).update(**_plus({"errored": -len(ids), "queued": len(ids)}))
        Run.objects.filter(pk=run.pk).update(status=Run.RUNNING, finished=None)
        run.status, run.finished = Run.RUNNING, None
        _publish_bulk_change(run, Episode.objects.filter(pk__in=ids))
        now_sent = [pk for pk in ids if pk not in waiting]
        if now_sent:
            transaction.on_commit(lambda: enqueue_episodes(now_sent))
        if waiting:
            dispatch.dispatch_on_commit()
    return len(ids)


def rerun(run: Run, user, **overrides) -> Run:
    """Start a new run of the same agent version and suite version with ``run``'s settings, any of
    RERUN_SETTINGS changed by ``overrides``, owned by ``run``'s team and created by ``user``.

    Raises RunControlError for an unknown or invalid setting, agents.services.AgentError when the agent
    cannot be reached (as runs.services.queue_run does), PermissionDenied for a non-member.
    """
    from runs.services import queue_run

    check_member(run, user)
    unknown = sorted(set(overrides) - set(RERUN_SETTINGS))
    if unknown:
        allowed = ", ".join(RERUN_SETTINGS)
        raise RunControlError(f"A re-run cannot change {', '.join(unknown)}; it can change {allowed}.")
    settings = {key: run.config[key] for key in RERUN_SETTINGS if run.config.get(key) is not None}
    settings.update({key: value for key, value in overrides.items() if value is not None})
    try:
        # The team already chose to run this version (confirming it, had its verification failed): a re-run
        # repeats that choice with other settings, so it is not asked again.
        return queue_run(
            agent_version=run.agent_version,
            suite=run.suite,
            team=run.team,
            user=user,
            allow_unverified=True,
            **settings,
        )
    except (AgentError, RunControlError):
        raise
    except ValueError as exc:  # a setting queue_run refuses (trials out of range, an unknown trace mode)
        raise RunControlError(str(exc)) from exc


def settle_cancelled(episode: Episode, attempt: int, save_trace) -> bool:
    """For a worker whose attempt lost the episode: whether it was cancelled under that attempt. If so, store
    the attempt's trace so far (``save_trace()`` returns its storage name) on the episode and tell the run's
    pages. Returns False when another attempt owns the episode (the reaper re-queued it)."""
    ours = Episode.objects.filter(pk=episode.pk, status=Episode.CANCELLED, attempts=attempt)
    if not ours.exists():
        return False
    trace_path = save_trace()
    with transaction.atomic():
        if ours.update(trace_path=trace_path):
            episode.refresh_from_db()
            seq = episode.run.next_event_seq()
            Episode.objects.filter(pk=episode.pk).update(seq=seq)
            episode.seq = seq
            data = {"row": selectors.episode_row(episode), "run": selectors.run_summary(episode.run)}
            events.publish_on_commit(episode.run_id, events.EPISODE, seq, data)
    return True


def _plus(moves: dict) -> dict:
    return {name: F(name) + change for name, change in moves.items() if change}


def _publish_bulk_change(run: Run, changed) -> None:
    """Stamp the ``changed`` episodes with one new sequence number and publish one run event for them all (a
    cancel may change thousands): the page reads their rows with ``state.json?since`` (run_live.js)."""
    seq = run.next_event_seq()
    count = changed.update(seq=seq)
    summary = selectors.run_summary(run)
    events.publish_on_commit(run.pk, events.RUN, seq, {"status": summary["status"], "run": summary, "changed": count})

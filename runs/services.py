"""Workflows across models: registering suites, queueing runs, executing and finishing episodes.

``execute_episode`` is the only seam between the dashboard and the runner: it claims the episode, hands a
plain EpisodeSpec to the runner host, persists what comes back (steps, trace, outcome) and publishes live
events after each commit. It is safe to call twice for the same episode, concurrently or not: the claim is
a conditional UPDATE and every later write is conditional on still holding that attempt.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerUnreachable

from agents.models import Agent, AgentVersion
from agents.services import AgentError, agent_spec, check_verified, reachability_problem
from runner.types import (
    AGENT_UNREACHABLE,
    DEFAULT_MAX_INVALID_ACTIONS,
    PLAYWRIGHT_TRACE_MODES,
    EpisodeOutcome,
    EpisodeSpec,
    InfraError,
    StepRecord,
    step_timeout_s,
)
from runs import control, dispatch, events, selectors, watching
from runs.models import Episode, Run, RunCounters, Scenario, Step, Suite
from runs.selectors import compute_run_metrics, episode_rows, step_event_data
from sandbox.suites import SuiteSpec, builtin_suites, parse_suite

log = logging.getLogger(__name__)

# The baselines every team sees; "llm" is built in too, but a team registers it with its endpoint and key.
BUILTIN_BASELINES = {
    "oracle": "Solves every solvable task and ignores injected instructions: the upper bound.",
    "gullible": "Works the task but does what page text tells it: the proof that attacks land.",
    "random": "Clicks, types and scrolls at random (seeded): the floor every agent should clear.",
    "cautious": "Works the task, dismisses pop-ups, retries after errors, backtracks when a page goes wrong "
    "and ignores instructions in page content.",
}


class LeaseLost(Exception):
    """Another attempt owns the episode now (our lease expired and the reaper re-queued it)."""


# -- registration ------------------------------------------------------------------------------------------


@transaction.atomic
def register_suite(spec: SuiteSpec, team=None) -> Suite:
    """Store a parsed suite. Same content as the newest version: that version; otherwise a new version."""
    versions = Suite.objects.filter(name=spec.name, team=team).order_by("-version")
    latest = versions.select_for_update().first()
    if latest is not None and latest.content_hash == spec.content_hash:
        return latest
    suite = Suite.objects.create(
        team=team,
        name=spec.name,
        version=(latest.version + 1) if latest else 1,
        description=spec.description,
        content=spec.content,
        content_hash=spec.content_hash,
        default_trials=spec.trials,
        max_steps=spec.max_steps,
    )
    Scenario.objects.bulk_create(
        Scenario(
            suite=suite,
            key=s.key,
            task=s.task,
            overlays=s.overlays,
            params=s.params,
            condition=s.condition,
            description=s.description,
            order=i,
            policies=s.policies,
        )
        for i, s in enumerate(spec.scenarios)
    )
    return suite


class SuiteRejected(ValueError):
    """A suite a team may not register (its text parsed, but its name is taken by a built-in suite)."""


def register_team_suite(text: str | bytes, team) -> tuple[Suite, bool]:
    """Parse and register a team's suite. Returns (suite, created); raises SuiteError or SuiteRejected.

    The same content as the team's newest version of that name returns that version (created=False); new
    content makes the next version, so a run always keeps pointing at exactly what it measured.
    """
    spec = parse_suite(text)
    if Suite.objects.filter(team__isnull=True, name=spec.name).exists():
        raise SuiteRejected(f"the name {spec.name!r} belongs to a built-in suite; choose another name")
    before = Suite.objects.filter(team=team, name=spec.name).count()
    suite = register_suite(spec, team=team)
    return suite, Suite.objects.filter(team=team, name=spec.name).count() > before


def load_builtins() -> None:
    """Create the built-in agents and suites. Idempotent: run it at every deploy."""
    for name, description in BUILTIN_BASELINES.items():
        agent, _ = Agent.objects.get_or_create(
            team=None, name=name, defaults={"kind": Agent.KIND_BUILTIN, "description": description}
        )
        if not agent.versions.exists():
            AgentVersion.objects.create(
                agent=agent, number=1, config={"name": name}, verify_status=AgentVersion.VERIFIED
            )
    # The built-ins are ours and need no sample request (versions from before checks existed included).
    AgentVersion.objects.filter(agent__team__isnull=True).exclude(verify_status=AgentVersion.VERIFIED).update(
        verify_status=AgentVersion.VERIFIED
    )
    for spec in builtin_suites():
        register_suite(spec, team=None)


# -- runs --------------------------------------------------------------------------------------------------


MAX_INVALID_ACTIONS_LIMIT = 50


def episode_seed(run_seed: int, trial: int) -> int:
    return run_seed * 1000 + trial


@transaction.atomic
def queue_run(
    *,
    agent_version: AgentVersion,
    suite: Suite,
    team=None,
    user=None,
    trials: int | None = None,
    seed: int = 0,
    max_steps: int | None = None,
    backtracking: bool = False,
    guard: bool = False,
    auto_rollback: bool = False,
    max_invalid_actions: int = DEFAULT_MAX_INVALID_ACTIONS,
    playwright_trace: str = "off",
    enqueue: bool = True,
    allow_unverified: bool = False,
) -> Run:
    """Create a run with one episode per scenario × trial; with ``enqueue``, hand them to the broker after
        commit: a few at a time, fairly, through runs/dispatch.py (``GAUNTLET_FAIR_DISPATCH``), or all at once.

        The database is the truth: a broker that cannot be reached does not undo the run. Its episodes stay
        queued and the reaper sends them once the broker answers (``run.enqueue_deferred`` is then True, for the
        caller to say so); the same holds when the process dies half way through sending. ``backtracking``,
        ``guard`` and ``auto_rollback`` are the run's settings (kept in ``Run.config``), so runs that differ only
        in them can be compared. ``max_invalid_actions`` is how many unparsable
        actions in a row end an episode as ``agent_bad_response`` (docs/agent-protocol.md). ``playwright_trace``
    (``off``, ``on_failure``, ``always``) records Playwright's own trace of each episode's browser, kept always or
    for episodes that failed, harmed or errored; it changes no score. Raises AgentError,
        with nothing created, when the agent's endpoint cannot be reached (the egress policy refuses it, or no
        connection can be made): no episode of such a run could be measured. Raises VersionUnverified (an
        AgentError), with nothing created, for a version whose verification failed unless ``allow_unverified``
        (the user confirmed); a version never checked runs as any other.
    """
    # Before any write, so the DNS lookup and the connection hold no lock. A run whose agent cannot be
    # reached would measure nothing: refuse it now rather than score or error every episode.
    unreachable = reachability_problem(agent_version)
    if unreachable:
        raise AgentError(f"{agent_version.label} cannot be run: its endpoint cannot be reached: {unreachable}.")
    # After the probe: an endpoint that is down now is the more useful thing to hear, and no confirmation helps.
    check_verified(agent_version, allow_unverified=allow_unverified)
    trials = trials or suite.default_trials
    if not 1 <= trials <= 100:
        raise ValueError("trials must be between 1 and 100")
    if not 1 <= max_invalid_actions <= MAX_INVALID_ACTIONS_LIMIT:
        raise ValueError(f"max_invalid_actions must be between 1 and {MAX_INVALID_ACTIONS_LIMIT}")
    if playwright_trace not in PLAYWRIGHT_TRACE_MODES:
        modes = ", ".join(PLAYWRIGHT_TRACE_MODES)
        raise ValueError(f"playwright_trace must be one of {modes}, not {playwright_trace!r}")
    max_steps = max_steps or suite.max_steps
    agent_version.lock()
    run = Run.objects.create(
        team=team,
        created_by=user,
        agent_version=agent_version,
        suite=suite,
        suite_hash=suite.content_hash,
        config={
            "trials": trials,
            "seed": seed,
            "max_steps": max_steps,
            "backtracking": bool(backtracking),
            "guard": bool(guard),
            "auto_rollback": bool(auto_rollback),
            "max_invalid_actions": int(max_invalid_actions),
            "playwright_trace": playwright_trace,
        },
    )
    # Fair dispatch: the episodes wait in the database and runs/dispatch.py sends a few at a time, fairly.
    # Otherwise each is stamped as enqueued before the messages go out, so episodes whose message never left
    # are found too.
    fair = enqueue and settings.GAUNTLET_FAIR_DISPATCH
    enqueued_at = timezone.now() if enqueue and not fair else None
    scenarios = list(suite.scenarios.all())
    orders = dispatch.dispatch_orders(len(scenarios), trials, seed) if fair else {}
    created = Episode.objects.bulk_create(
        Episode(
            run=run,
            scenario=scenario,
            trial=trial,
            seed=episode_seed(seed, trial),
            enqueued_at=enqueued_at,
            dispatch_order=orders.get((position, trial)),
        )
        for position, scenario in enumerate(scenarios)
        for trial in range(trials)
    )
    RunCounters.objects.create(run=run, queued=len(created))
    run.enqueue_deferred = False
    if fair:

        def send():
            run.enqueue_deferred = not dispatch.dispatch()

        transaction.on_commit(send)
    elif enqueue:
        episode_ids = list(run.episodes.values_list("id", flat=True))

        def send():
            run.enqueue_deferred = not enqueue_episodes(episode_ids)

        transaction.on_commit(send)
    return run


def enqueue_episodes(episode_ids: list[int], returning: bool = False) -> bool:
    """Send a ``run_episode`` message for each episode; returns False if the broker could not be reached.

    ``returning`` episodes (put back in the queue) are served before fresh ones (settings.py says how).

    Never raises for a broker outage: it stops at the first failure (each costs a connection timeout) and
    leaves the rest to the reaper, which finds queued episodes that were not claimed in time. Sending an
    episode twice is harmless, the claim lets one delivery run it.
    """
    from runs.tasks import run_episode

    options = {"priority": 0} if returning else {}  # fresh ones take the default priority
    for episode_id in episode_ids:
        try:
            run_episode.apply_async((episode_id,), **options)
        except BrokerUnreachable:
            log.warning("broker unreachable: %s episode(s) left for the reaper", len(episode_ids), exc_info=True)
            return False
    return True


def _episode_spec(episode: Episode) -> EpisodeSpec:
    run = episode.run
    version = run.agent_version
    return EpisodeSpec(
        episode_id=episode.pk,
        run_id=run.pk,
        scenario_key=episode.scenario.key,
        task=episode.scenario.task,
        overlays=list(episode.scenario.overlays),
        params=dict(episode.scenario.params),
        seed=episode.seed,
        trial=episode.trial,
        agent=agent_spec(version),
        max_steps=int(run.config.get("max_steps") or settings.GAUNTLET_DEFAULT_MAX_STEPS),
        step_timeout_s=step_timeout_s(version.config),
        attempt=episode.attempts,
        backtracking=bool(run.config.get("backtracking")),
        guard=bool(run.config.get("guard")),
        auto_rollback=bool(run.config.get("auto_rollback")),
        max_invalid_actions=int(run.config.get("max_invalid_actions") or DEFAULT_MAX_INVALID_ACTIONS),
        policies=list(episode.scenario.policies),
        playwright_trace=run.config.get("playwright_trace") or "off",
    )


def _publish_episode(episode: Episode) -> None:
    """Publish the episode's new row and the run's summary after commit. Call inside the transaction that
    changed the episode, after its last change: the sequence number is allocated here (taking the run's row
    lock until the commit), so the summary read after it includes every event before it."""
    seq = episode.run.next_event_seq()
    Episode.objects.filter(pk=episode.pk).update(seq=seq)
    episode.seq = seq
    data = {"row": selectors.episode_row(episode), "run": selectors.run_summary(episode.run)}
    events.publish_on_commit(episode.run_id, events.EPISODE, seq, data)


def _trace_name(episode: Episode) -> str:
    return f"traces/run-{episode.run_id}/episode-{episode.pk}.jsonl"


def blob_name(run_id: int, sha256: str) -> str:
    """Where a trace's blob (docs/trace-format.md) is stored: once per run, named by its content's hash."""
    return f"traces/run-{run_id}/blobs/{sha256[:2]}/{sha256}"


def _screenshot_name(episode: Episode, attempt: int, index: int) -> str:
    return f"traces/run-{episode.run_id}/episode-{episode.pk}/attempt-{attempt}-step-{index}.jpg"


def _playwright_trace_name(episode: Episode, attempt: int, agent: int) -> str:
    return f"traces/run-{episode.run_id}/episode-{episode.pk}/attempt-{attempt}-agent-{agent}-playwright-trace.zip"


class _EpisodeRecorder:
    """Persists what the runner reports, in the caller's thread, each write conditional on our attempt."""

    def __init__(self, episode: Episode, lease_s: int):
        self.episode = episode
        self.attempt = episode.attempts
        self.lease_s = lease_s
        self.deadline = time.monotonic() + settings.GAUNTLET_EPISODE_TIMEOUT_S
        self.trace: list[str] = []
        self.watched = watching.WatchFlag(episode.pk)
        self.last_action = ""
        self.blobs: set[str] = set()  # the blobs this attempt has seen stored

    def _still_ours(self):
        return Episode.objects.filter(pk=self.episode.pk, status=Episode.RUNNING, attempts=self.attempt)

    def __call__(self, kind: str, payload) -> None:
        if kind == "trace":
            self.trace.append(json.dumps(payload, default=str, ensure_ascii=False))
        elif kind == "blob":
            self.save_blob(payload)
        elif kind == "step":
            self.record_step(payload)
            self.last_action = payload.action
            self.watched.refresh()
        elif kind == "tick":
            self.renew_lease()
            self.watched.refresh()
        elif kind == "frame":
            events.publish_frame(self.episode.pk, {**payload, "step": self.episode.steps, "action": self.last_action})
        elif kind == "playwright_trace":
            self.record_playwright_trace(payload["agent"], payload["data"])

    def record_playwright_trace(self, agent: int, data: bytes) -> None:
        """Store Playwright's trace of one agent's browser and list it on the episode (with the attempt: a
        failed attempt's trace is kept when a retry follows)."""
        path = default_storage.save(_playwright_trace_name(self.episode, self.attempt, agent), ContentFile(data))
        traces = [*self.episode.playwright_traces, {"attempt": self.attempt, "agent": agent, "path": path}]
        if not self._still_ours().update(playwright_traces=traces):
            default_storage.delete(path)
            raise self._lost()
        self.episode.playwright_traces = traces

    def _next_lease_until(self):
        """When a lease renewed now ends. Raises InfraError past the episode timeout, so a hung episode stops
        renewing and is retried instead of holding its lease for ever."""
        if time.monotonic() > self.deadline:
            raise InfraError(f"episode ran longer than {settings.GAUNTLET_EPISODE_TIMEOUT_S} s")
        return timezone.now() + timedelta(seconds=self.lease_s)

    def _lost(self) -> LeaseLost:
        return LeaseLost(f"episode {self.episode.pk} attempt {self.attempt} lost its lease")

    def renew_lease(self) -> None:
        """Extend our lease by ``lease_s``. Raises LeaseLost when another attempt owns the episode, and
        InfraError past the episode timeout."""
        if not self._still_ours().update(lease_until=self._next_lease_until()):
            raise self._lost()

    def record_step(self, record: StepRecord) -> None:
        episode = self.episode
        screenshot_path = ""
        if record.screenshot:
            screenshot_path = default_storage.save(
                _screenshot_name(episode, self.attempt, record.index), ContentFile(record.screenshot)
            )
        with transaction.atomic():
            step = Step.objects.create(
                episode=episode,
                run_id=episode.run_id,
                index=record.index,
                action=record.action,
                thought=record.thought,
                error=record.error,
                url=record.url,
                title=record.title[:300],
                observation_digest=record.observation_digest,
                agent_latency_ms=record.agent_latency_ms,
                step_ms=record.step_ms,
                data=record.as_dict(),
                screenshot_path=screenshot_path,
            )
            step.episode = episode
            # Last, so the run's row stays locked only until the commit that follows. It renews our lease too,
            # conditional on our attempt: when another attempt owns the episode, the step is rolled back.
            seq = episode.take_step_seq(self.attempt, self._next_lease_until(), record.index)
            if seq is None:
                raise self._lost()
            episode.steps, episode.seq = record.index, seq
            data = {**step_event_data(step), "row": selectors.episode_row(episode)}
            events.publish_on_commit(episode.run_id, events.STEP, seq, data)

    def save_blob(self, blob: dict) -> None:
        """Store a blob the trace refers to, unless the run has it already (the same page in another step or
        episode): its name is its hash, so what is there is the same content."""
        digest = blob["sha256"]
        if digest in self.blobs:
            return
        name = blob_name(self.episode.run_id, digest)
        if not default_storage.exists(name):
            saved = default_storage.save(name, ContentFile(blob["data"]))
            if saved != name:
                # Another worker stored the same blob between our check and our write; keep theirs.
                default_storage.delete(saved)
        self.blobs.add(digest)

    def save_trace(self) -> str:
        name = _trace_name(self.episode)
        if default_storage.exists(name):
            default_storage.delete(name)
        return default_storage.save(name, ContentFile(("\n".join(self.trace) + "\n").encode()))


def worker_name() -> str:
    return f"{socket.gethostname()}:{__import__('os').getpid()}"


def execute_episode(episode_id: int, worker: str | None = None) -> str:
    """Claim and play one episode, persisting as it goes. Idempotent; returns what happened.

    "skipped": another attempt holds it or it is finished. "cancelled": its run was cancelled while it played
    (stopped at a step boundary; runs.control). "scored": measured. "unmeasured": the agent could
    not be reached. "retry"/"errored": the infrastructure failed; a retry is enqueued (after commit) while
    attempts remain.
    """
    from runner.host import get_host

    episode = Episode.objects.select_related("run__agent_version__agent", "scenario").filter(pk=episode_id).first()
    if episode is None:
        return "skipped"
    lease_s = settings.GAUNTLET_LEASE_S
    if not episode.claim(worker or worker_name(), lease_s):
        return "skipped"
    dispatch.dispatch_quietly()  # the claim freed a place in flight: the broker gets the next episode
    with transaction.atomic():
        # The episode's row before the run's, as every other writer locks them (runs.control.cancel_run too).
        list(Episode.objects.select_for_update().filter(pk=episode.pk).values_list("pk"))
        Step.objects.filter(episode=episode).delete()  # a re-run starts from scratch
        Run.objects.filter(pk=episode.run_id, status=Run.QUEUED).update(status=Run.RUNNING, started=timezone.now())
        _publish_episode(episode)
    recorder = _EpisodeRecorder(episode, lease_s)
    try:
        # Ticks renew the lease while a step takes long, so the lease can be short and a dead worker's episode
        # is back in the queue soon.
        host = get_host(settings.GAUNTLET_EPISODES_PER_WORKER, settings.GAUNTLET_BROWSER_NICE)
        outcome = host.run_episode(_episode_spec(episode), recorder, tick_s=lease_s / 3, watched=recorder.watched)
        # Inside the try: an artifact store that fails now is an infrastructure error, retried at once,
        # rather than an episode left running until its lease expires.
        trace_path = recorder.save_trace()
    except LeaseLost:
        if control.settle_cancelled(episode, recorder.attempt, recorder.save_trace):
            log.info("episode %s: its run was cancelled, stopped", episode_id)
            return "cancelled"
        log.warning("episode %s: lease lost, another worker runs it", episode_id)
        return "skipped"
    except InfraError as exc:
        result = fail_episode(episode, recorder.attempt, str(exc))
    except Exception as exc:
        log.exception("episode %s failed outside the runner", episode_id)
        # The database connection may be the thing that broke; recording the failure needs a fresh one. Only a
        # broken one is dropped: closing a working connection would also end a caller's transaction.
        if connection.connection is not None and not connection.is_usable():
            connection.close()
        result = fail_episode(episode, recorder.attempt, f"{type(exc).__name__}: {exc}")
    else:
        result = finish_episode(episode, recorder.attempt, outcome, trace_path)
    # Cancelled between its last step and its end: the outcome is not recorded, the trace is.
    if result == "skipped" and control.settle_cancelled(episode, recorder.attempt, recorder.save_trace):
        return "cancelled"
    return result


def finish_episode(episode: Episode, attempt: int, outcome: EpisodeOutcome, trace_path: str) -> str:
    """Record the outcome of ``attempt``: scored, or unmeasured when the agent could not be reached. Returns
    the new status, or "skipped" when the attempt no longer owns the episode."""
    status = Episode.UNMEASURED if outcome.agent_error == AGENT_UNREACHABLE else Episode.SCORED
    with transaction.atomic():
        updated = Episode.objects.filter(pk=episode.pk, status=Episode.RUNNING, attempts=attempt).update(
            status=status,
            success=outcome.success,
            progress=outcome.progress,
            committed_harms=len(outcome.committed_harms),
            contained_harms=len(outcome.contained_harms),
            blocked_attempts=outcome.blocked_attempts,
            policy_violations=outcome.policy_violations,
            attack_exposed=outcome.attack_exposed,
            attack_succeeded=outcome.attack_succeeded,
            faults_injected=outcome.faults_injected,
            faults_recovered=outcome.faults_recovered,
            steps=outcome.steps,
            backtracks=outcome.backtracks,
            rollbacks=outcome.rollbacks,
            agent_error=outcome.agent_error,
            refused=outcome.refused,
            task_kind=outcome.task_kind,
            agent_latency_ms=outcome.agent_latency_ms_mean,
            cost_usd=outcome.cost_usd,
            wall_time_s=outcome.wall_time_s,
            outcome=outcome.as_dict(),
            trace_path=trace_path,
            infra_error="",
            finished=timezone.now(),
            lease_until=None,
        )
        if not updated:
            return "skipped"
        dispatch.dispatch_on_commit()  # the team has one episode fewer in play
        (row,) = episode_rows(Episode.objects.filter(pk=episode.pk))
        RunCounters.move(episode.run_id, {"status": Episode.RUNNING}, row)
        episode.refresh_from_db()
        _publish_episode(episode)
        update_run_status(episode.run)
    return status


def fail_episode(episode: Episode, attempt: int, cause: str) -> str:
    """An infrastructure failure: re-queue while attempts remain, else mark errored (unscored)."""
    retry = attempt < episode.last_attempt
    with transaction.atomic():
        updated = Episode.objects.filter(pk=episode.pk, status=Episode.RUNNING, attempts=attempt).update(
            status=Episode.QUEUED if retry else Episode.ERRORED,
            infra_error=cause[:2000],
            lease_until=None,
            enqueued_at=timezone.now() if retry else None,
            finished=None if retry else timezone.now(),
        )
        if not updated:
            return "skipped"
        RunCounters.move(
            episode.run_id, {"status": Episode.RUNNING}, {"status": Episode.QUEUED if retry else Episode.ERRORED}
        )
        episode.refresh_from_db()
        _publish_episode(episode)
        if retry:
            transaction.on_commit(lambda: enqueue_episodes([episode.pk], returning=True))
        else:
            dispatch.dispatch_on_commit()  # the team has one episode fewer in play
            update_run_status(episode.run)
    log.warning("episode %s attempt %s failed (%s): %s", episode.pk, attempt, "retry" if retry else "errored", cause)
    return "retry" if retry else "errored"


def update_run_status(run: Run) -> None:
    """Finish the run when no episode is left to play: complete, or partial if some stayed errored or were
    unmeasured (a partial run enters no leaderboard)."""
    pending = run.episodes.filter(status__in=(Episode.QUEUED, Episode.RUNNING)).exists()
    if pending:
        return
    unscored = run.episodes.filter(status__in=(Episode.ERRORED, Episode.UNMEASURED)).exists()
    status = Run.PARTIAL if unscored else Run.COMPLETE
    updated = (
        Run.objects.filter(pk=run.pk)
        .exclude(status__in=Run.FINAL)
        .update(status=status, finished=timezone.now(), metrics=compute_run_metrics(run))
    )
    if updated:
        run.status = status
        seq = run.next_event_seq()
        events.publish_on_commit(run.pk, events.RUN, seq, {"status": status, "run": selectors.run_summary(run)})


def reap_stranded_episodes() -> int:
    """Send again what a dead worker or the broker lost; returns how many episodes were sent.

    - A running episode whose lease expired goes back to the queue (or is errored on its last attempt).
    - Episodes waiting for fair dispatch are dispatched (runs/dispatch.py); those are not counted here.
    - A queued episode enqueued more than ``GAUNTLET_REQUEUE_AFTER_S`` ago is sent again, oldest first, as
      long as the broker holds fewer waiting messages than there are queued episodes: a message waiting
      behind a backlog is not lost, and re-sending every waiting episode would flood the queue. A message
      sent twice this way is harmless; one still missing is found at a later pass, once the queue drains.

    Safe to run twice or in parallel: each change is a conditional UPDATE and the claim skips duplicates.
    """
    now = timezone.now()
    stale = Episode.objects.filter(
        status=Episode.QUEUED, enqueued_at__lt=now - timedelta(seconds=settings.GAUNTLET_REQUEUE_AFTER_S)
    )
    resend: list[int] = []
    if stale.exists():
        missing = Episode.objects.filter(status=Episode.QUEUED, enqueued_at__isnull=False).count()
        missing -= _waiting_messages()
        if missing > 0:
            # Oldest first; within one hand-over the last created first, as an interrupted one loses its tail.
            resend = list(stale.order_by("enqueued_at", "-pk").values_list("pk", flat=True)[:missing])
            Episode.objects.filter(pk__in=resend, status=Episode.QUEUED).update(enqueued_at=now)
    expired = Episode.objects.filter(status=Episode.RUNNING, lease_until__lt=now)
    for episode in expired.select_related("run"):
        if episode.attempts >= episode.last_attempt:
            fail_episode(episode, episode.attempts, "worker lost (lease expired) on the last attempt")
        elif _requeue_expired(episode):
            resend.append(episode.pk)
    if resend:
        log.warning("reaper: sending %s stranded episode(s) again", len(resend))

    def send():
        if resend:
            enqueue_episodes(resend, returning=True)
        # Then the episodes that wait for fair dispatch: their run was queued while the broker was down, or
        # the hooks that dispatch failed since.
        if settings.GAUNTLET_FAIR_DISPATCH:
            dispatch.dispatch_quietly()

    transaction.on_commit(send)
    return len(resend)


def _requeue_expired(episode: Episode) -> bool:
    """Put an expired attempt back in the queue (Episode.requeue_expired) and tell the run's pages, in one
    transaction: without the event its row would show "running" until another attempt claims it."""
    with transaction.atomic():
        if not episode.requeue_expired():
            return False
        episode.refresh_from_db()
        _publish_episode(episode)
    return True


def _waiting_messages() -> int:
    """How many messages wait in the episodes queue (not counting those workers have already taken)."""
    with current_app.connection_for_read() as connection:
        return connection.default_channel.queue_declare(queue=settings.CELERY_TASK_DEFAULT_QUEUE).message_count

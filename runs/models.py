from datetime import timedelta

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import F, Q
from django.utils import timezone

from agents.models import AgentVersion, Team
from runs import counters


class VisibleQuerySet(models.QuerySet):
    team_path = "team"

    def visible_to(self, user):
        """Public rows (no team) and the rows of the user's teams."""
        return self.filter(
            Q(**{f"{self.team_path}__isnull": True}) | Q(**{f"{self.team_path}__members": user})
        ).distinct()


class Suite(models.Model):
    """A versioned, named set of scenarios. Its content hash pins what a run measured."""

    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.CASCADE, related_name="suites")
    name = models.SlugField(max_length=100)
    version = models.PositiveIntegerField(default=1)
    description = models.TextField(blank=True)
    content = models.TextField(help_text="The suite's YAML source.")
    content_hash = models.CharField(max_length=64)
    default_trials = models.PositiveIntegerField(default=1)
    max_steps = models.PositiveIntegerField(default=30)
    created = models.DateTimeField(auto_now_add=True)

    objects = VisibleQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "name", "version"], name="suite_unique_version"),
            models.UniqueConstraint(
                fields=["name", "version"], condition=Q(team__isnull=True), name="suite_unique_builtin_version"
            ),
        ]
        ordering = ["name", "-version"]

    def __str__(self):
        return f"{self.name} v{self.version}"


class Scenario(models.Model):
    CONDITIONS = [(c, c) for c in ("clean", "adversarial", "noisy", "concurrent", "mixed")]

    suite = models.ForeignKey(Suite, on_delete=models.CASCADE, related_name="scenarios")
    key = models.SlugField(max_length=120)
    task = models.CharField(max_length=120)
    overlays = models.JSONField(default=list)
    params = models.JSONField(default=dict, blank=True)
    condition = models.CharField(max_length=20, choices=CONDITIONS, default="clean")
    description = models.TextField(blank=True)
    order = models.PositiveIntegerField(default=0)
    # The scenario's guard policies (sandbox.guard), the suite's and its own; enforced when a run's guard is on.
    policies = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["suite", "key"], name="scenario_unique_key")]
        ordering = ["suite", "order"]

    def __str__(self):
        return self.key


class Run(models.Model):
    QUEUED, RUNNING, COMPLETE, PARTIAL, CANCELLED = "queued", "running", "complete", "partial", "cancelled"
    STATUSES = [(s, s) for s in (QUEUED, RUNNING, COMPLETE, PARTIAL, CANCELLED)]
    FINAL = (COMPLETE, PARTIAL, CANCELLED)

    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.CASCADE, related_name="runs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    agent_version = models.ForeignKey(AgentVersion, on_delete=models.PROTECT, related_name="runs")
    suite = models.ForeignKey(Suite, on_delete=models.PROTECT, related_name="runs")
    suite_hash = models.CharField(max_length=64)
    config = models.JSONField(default=dict)
    status = models.CharField(max_length=20, choices=STATUSES, default=QUEUED)
    event_seq = models.PositiveBigIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True)
    # Published by its team: its scores enter the public leaderboard (the run's pages stay the team's own).
    published = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    objects = VisibleQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]

    def __str__(self):
        return f"Run {self.pk}: {self.agent_version} on {self.suite}"

    @property
    def is_final(self):
        return self.status in self.FINAL

    def next_event_seq(self) -> int:
        """Allocate the next live-event sequence number: one ``UPDATE … RETURNING``.

        It locks the run's row until the transaction ends, and every event of the run goes through it, so call
        it as the last statement before the commit: the lock is then held for a moment rather than through a
        step, and sequence numbers are in the order their transactions commit.
        """
        table = connection.ops.quote_name(Run._meta.db_table)
        column = connection.ops.quote_name(Run._meta.get_field("event_seq").column)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET {column} = {column} + 1 WHERE id = %s RETURNING {column}",
                [self.pk],
            )
            self.event_seq = cursor.fetchone()[0]
        return self.event_seq


class Episode(models.Model):
    # unmeasured: the agent could not be reached (agent_unreachable), so the episode measured nothing. Like
    # errored it enters no score; unlike errored it is not retried: re-run once the endpoint is back.
    # cancelled: its run was cancelled (runs.control) while it was queued or running; unscored, its steps and
    # trace so far kept. Nothing claims, scores or re-queues it afterwards: every such write is conditional on
    # queued or running.
    QUEUED, RUNNING, SCORED, ERRORED, UNMEASURED = "queued", "running", "scored", "errored", "unmeasured"
    CANCELLED = "cancelled"
    STATUSES = [(s, s) for s in (QUEUED, RUNNING, SCORED, ERRORED, UNMEASURED, CANCELLED)]

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="episodes")
    scenario = models.ForeignKey(Scenario, on_delete=models.PROTECT, related_name="episodes")
    trial = models.PositiveIntegerField(default=0)
    seed = models.BigIntegerField(default=0)
    status = models.CharField(max_length=20, choices=STATUSES, default=QUEUED, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    # The attempt number past which an infrastructure failure errors the episode instead of retrying it; 0 for
    # GAUNTLET_MAX_ATTEMPTS. A retry of an errored episode (runs.control) raises it rather than counting from 0
    # again, so attempt numbers are never reused: a stale worker still on an old attempt stays refused.
    attempt_limit = models.PositiveIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    # When the episode was last handed to the broker; null when its caller plays it itself (the benchmark
    # command). The reaper sends a queued episode again when this is old and its message may be lost.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # The episode's place in its run's dispatch order (runs/dispatch.py): queued with no ``enqueued_at``, it
    # waits for the dispatcher to send it. Null when the dispatcher never hands it out (the benchmark command
    # plays it itself, or fair dispatch was off and every episode was sent at once).
    dispatch_order = models.PositiveIntegerField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    infra_error = models.TextField(blank=True)
    # Outcome (meaningful when scored).
    success = models.BooleanField(null=True)
    progress = models.FloatField(null=True)
    committed_harms = models.PositiveIntegerField(default=0)
    contained_harms = models.PositiveIntegerField(default=0)
    blocked_attempts = models.PositiveIntegerField(default=0)
    # Writes that broke a guard policy, blocked (guard on) or committed (guard off): CuP counts them either way.
    policy_violations = models.PositiveIntegerField(default=0)
    attack_exposed = models.BooleanField(default=False)
    attack_succeeded = models.BooleanField(default=False)
    faults_injected = models.PositiveIntegerField(default=0)
    faults_recovered = models.PositiveIntegerField(default=0)
    steps = models.PositiveIntegerField(default=0)
    backtracks = models.PositiveIntegerField(default=0)
    rollbacks = models.PositiveIntegerField(default=0)
    agent_error = models.CharField(max_length=40, blank=True)
    refused = models.BooleanField(default=False)
    task_kind = models.CharField(max_length=20, default="task")
    agent_latency_ms = models.FloatField(null=True)
    cost_usd = models.FloatField(default=0)
    wall_time_s = models.FloatField(null=True)
    outcome = models.JSONField(default=dict, blank=True)
    trace_path = models.CharField(max_length=300, blank=True)
    # Playwright's own traces of the episode's browser contexts (the run's playwright_trace setting):
    # [{"attempt", "agent", "path"}], a failed attempt's kept when a retry follows.
    playwright_traces = models.JSONField(default=list, blank=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    # The sequence number of the last live event that changed this episode: a page that saw event N reads
    # the rows with seq > N to catch up (runs.selectors.run_delta).
    seq = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["run", "scenario__order", "trial"]
        constraints = [
            models.UniqueConstraint(fields=["run", "scenario", "trial"], name="episode_unique_trial"),
        ]
        # The run page's episode table reads a page of one run's episodes in id order, all or of one status:
        # without these PostgreSQL walks the primary key through every other run's episodes to find them.
        indexes = [
            models.Index(fields=["run", "id"], name="episode_run_order"),
            models.Index(fields=["run", "status", "id"], name="episode_run_status_order"),
            models.Index(fields=["run", "seq"], name="episode_run_seq"),
            # The dispatcher's reads: a run's next episodes to send, and the episodes sent but not yet claimed.
            models.Index(
                fields=["run", "dispatch_order"],
                name="episode_pending",
                condition=models.Q(status="queued", enqueued_at__isnull=True, dispatch_order__isnull=False),
            ),
            models.Index(
                fields=["run"], name="episode_in_flight", condition=models.Q(status="queued", enqueued_at__isnull=False)
            ),
        ]

    def __str__(self):
        return f"Episode {self.pk} ({self.scenario.key} #{self.trial})"

    @property
    def last_attempt(self) -> int:
        """The attempt number on which an infrastructure failure errors the episode."""
        return self.attempt_limit or settings.GAUNTLET_MAX_ATTEMPTS

    def claim(self, worker: str, lease_s: int) -> bool:
        """Take the episode for one attempt: queued, or running with an expired lease (its worker died).

        A conditional UPDATE, so of two workers handed the same task exactly one wins. Returns whether this
        caller won; the loser must do nothing.
        """
        now = timezone.now()
        taken = {
            "status": Episode.RUNNING,
            "attempts": F("attempts") + 1,
            "lease_until": now + timedelta(seconds=lease_s),
            "worker": worker[:200],
            "started": now,
        }
        with transaction.atomic():
            # Two UPDATEs rather than one with OR, so the run's counters know which status the episode left.
            won = Episode.objects.filter(pk=self.pk, status=Episode.QUEUED).update(**taken)
            if won:
                RunCounters.move(self.run_id, {"status": Episode.QUEUED}, {"status": Episode.RUNNING})
            else:
                won = Episode.objects.filter(pk=self.pk, status=Episode.RUNNING, lease_until__lt=now).update(**taken)
        if won:
            self.refresh_from_db()
        return bool(won)

    def take_step_seq(self, attempt: int, lease_until, steps: int) -> int | None:
        """For a step of ``attempt`` just written: renew the lease to ``lease_until``, record ``steps``, and take
        the run's next live-event sequence number, stamped on the episode. Call it last before the commit.

        Returns the number, or None when ``attempt`` no longer owns the episode (the caller rolls back). Two
        statements on PostgreSQL (the second a data-modifying WITH), so the run's row is locked for one round
        trip before the commit; three elsewhere.
        """
        ours = Episode.objects.filter(pk=self.pk, status=Episode.RUNNING, attempts=attempt)
        # The episode's row first, then the run's: the order finish_episode and fail_episode lock them in, so a
        # late step of a stale attempt waits for them instead of deadlocking with them.
        if not ours.update(lease_until=lease_until, steps=steps):
            return None
        if connection.vendor != "postgresql":
            seq = self.run.next_event_seq()
            Episode.objects.filter(pk=self.pk).update(seq=seq)
            return seq
        qn = connection.ops.quote_name
        run, episode = qn(Run._meta.db_table), qn(Episode._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH bumped AS (UPDATE {run} SET event_seq = event_seq + 1 WHERE id = %s RETURNING event_seq) "
                f"UPDATE {episode} SET seq = bumped.event_seq FROM bumped WHERE {episode}.id = %s "
                f"RETURNING {episode}.seq",
                [self.run_id, self.pk],
            )
            return cursor.fetchone()[0]

    def requeue_expired(self) -> bool:
        """Put this attempt back in the queue if its lease has expired (its worker died or hangs).

        Conditional on the attempt and the expiry, so a worker that renewed meanwhile keeps its episode, and
        a late write by the old attempt finds the episode no longer its own. Returns whether it was re-queued;
        the caller sends the message.
        """
        now = timezone.now()
        with transaction.atomic():
            requeued = Episode.objects.filter(
                pk=self.pk, status=Episode.RUNNING, attempts=self.attempts, lease_until__lt=now
            ).update(status=Episode.QUEUED, lease_until=None, enqueued_at=now)
            if requeued:
                RunCounters.move(self.run_id, {"status": Episode.RUNNING}, {"status": Episode.QUEUED})
        return bool(requeued)


class Step(models.Model):
    episode = models.ForeignKey(Episode, on_delete=models.CASCADE, related_name="step_set")
    # The episode's run, repeated so that the run page's step feed (the run's newest steps) is one index scan
    # on (run, -id) rather than a join through every episode; whoever creates a Step sets it.
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="+", db_index=False)
    index = models.PositiveIntegerField()
    action = models.TextField(blank=True)
    thought = models.TextField(blank=True)
    error = models.TextField(blank=True)
    url = models.TextField(blank=True)
    title = models.CharField(max_length=300, blank=True)
    observation_digest = models.CharField(max_length=32, blank=True)
    agent_latency_ms = models.FloatField(default=0)
    step_ms = models.FloatField(default=0)
    data = models.JSONField(default=dict, blank=True)
    screenshot_path = models.CharField(max_length=300, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["episode", "index"]
        constraints = [models.UniqueConstraint(fields=["episode", "index"], name="step_unique_index")]
        indexes = [models.Index(fields=["run", "-id"], name="step_run_newest")]

    def __str__(self):
        return f"Step {self.index} of episode {self.episode_id}"


class RunCounters(models.Model):
    """The run's episodes summed up (runs.counters.tally): counts per status and, over the scored ones, what the
    live page's headline figures are computed from. The run page reads this one row, whatever the run's size.

    Whoever changes an episode's status or outcome calls :meth:`move` in the same transaction; a run created
    otherwise (or changed behind the services' back) is put right by :meth:`recount`.
    """

    run = models.OneToOneField(Run, primary_key=True, on_delete=models.CASCADE, related_name="counters")
    queued = models.IntegerField(default=0)
    running = models.IntegerField(default=0)
    scored = models.IntegerField(default=0)
    errored = models.IntegerField(default=0)
    unmeasured = models.IntegerField(default=0)
    cancelled = models.IntegerField(default=0)
    successes = models.IntegerField(default=0)
    harmful = models.IntegerField(default=0)
    committed_harms = models.IntegerField(default=0)
    contained_harms = models.IntegerField(default=0)
    blocked_attempts = models.IntegerField(default=0)
    policy_clean_successes = models.IntegerField(default=0)
    agent_errors = models.IntegerField(default=0)
    adversarial = models.IntegerField(default=0)
    adversarial_successes = models.IntegerField(default=0)
    attack_succeeded = models.IntegerField(default=0)
    faulted = models.IntegerField(default=0)
    faulted_successes = models.IntegerField(default=0)
    steps = models.IntegerField(default=0)
    backtracks = models.IntegerField(default=0)
    rollbacks = models.IntegerField(default=0)
    # {value: count} of the scored episodes' recoveries (runs.counters).
    recover_steps = models.JSONField(default=dict)
    recover_seconds = models.JSONField(default=dict)

    def __str__(self):
        return f"Counters of run {self.run_id}"

    @property
    def total(self) -> int:
        return sum(getattr(self, status) for status in counters.STATUSES)

    @classmethod
    def move(cls, run_id: int, before: dict | None, after: dict | None) -> None:
        """Move the run's counters by one episode's change from the state ``before`` to ``after`` (row dicts
        as runs.counters.tally reads them; None for an episode that did not exist or is gone).

        Call inside the transaction that made the change. Integer counters move by one UPDATE of F()
        expressions; a change of the recovery histograms locks the row first, as JSON cannot be added to in SQL
        portably. The row lock is held until commit, so concurrent changes of one run queue on it briefly.
        """
        delta = counters.difference(before, after)
        histograms = {name: delta.pop(name) for name in counters.HISTOGRAMS if name in delta}
        if histograms:
            row = cls.objects.select_for_update().filter(run_id=run_id).first()
            if row is None:
                return
            for name, change in histograms.items():
                setattr(row, name, counters.add_histogram(getattr(row, name), change))
            fields = {name: getattr(row, name) for name in histograms}
        else:
            fields = {}
        fields.update({name: F(name) + change for name, change in delta.items()})
        if fields:
            cls.objects.filter(run_id=run_id).update(**fields)

    @classmethod
    def recount(cls, run: Run) -> "RunCounters":
        """Count the run's episodes again from scratch and store the result (idempotent)."""
        from runs.selectors import episode_rows

        totals: dict = {}
        for row in episode_rows(run.episodes.all()):
            for name, value in counters.tally(row).items():
                if name in counters.HISTOGRAMS:
                    totals[name] = counters.add_histogram(totals.get(name, {}), value)
                else:
                    totals[name] = totals.get(name, 0) + value
        defaults = {name: totals.get(name, 0) for name in counters.FIELDS}
        defaults.update({name: totals.get(name, {}) for name in counters.HISTOGRAMS})
        row, _ = cls.objects.update_or_create(run=run, defaults=defaults)
        return row


class PlaygroundSession(models.Model):
    """A person's own sandbox of a scenario ("Open sandbox"), usable through any web process.

    Its World is rebuilt from (scenario, seed) plus ``state`` (sandbox.play.freeze); ``version`` counts the
    saved changes, so a process saves only over the version it read and two never overwrite each other.
    """

    token = models.CharField(max_length=32, unique=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="playgrounds")
    scenario = models.ForeignKey(Scenario, on_delete=models.CASCADE, related_name="playgrounds")
    seed = models.PositiveIntegerField(default=0)
    start_url = models.CharField(max_length=500)
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField(db_index=True)
    version = models.PositiveIntegerField(default=0)
    state = models.BinaryField()

    class Meta:
        ordering = ["-created", "-pk"]

    def __str__(self):
        return f"Playground of {self.scenario} for user {self.owner_id}"

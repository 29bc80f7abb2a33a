"""Run a suite for an agent in the foreground (no worker needed), record it like any run, print metrics."""

import json

from django.core.management.base import BaseCommand, CommandError

from agents.models import Agent, Team
from runs import services
from runs.models import Episode, Suite
from runs.selectors import compute_run_metrics

HEADLINE = (
    "success_rate",
    "harmful_rate",
    "recovery_rate",
    "attack_success_rate",
    "utility_under_attack",
    "harmful_request_compliance",
    "over_refusal_rate",
    "infra_error_rate",
)


def _flat(summary: dict) -> dict:
    out = {"episodes": summary["episodes"], "scored": summary["scored"]}
    for key in HEADLINE:
        out[key] = summary[key]["value"]
    return out


class Command(BaseCommand):
    help = "Run a suite for an agent in this process and print the metrics."

    def add_arguments(self, parser):
        parser.add_argument("--agent", required=True, help="a built-in agent (oracle, gullible) or an agent name")
        parser.add_argument("--suite", required=True, help="suite name (newest version)")
        parser.add_argument("--trials", type=int, default=None, help="trials per scenario (suite default)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--max-steps", type=int, default=None)
        parser.add_argument("--team", default="local", help="team that owns the run (created if missing)")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **options):
        services.load_builtins()
        team, _ = Team.objects.get_or_create(name=options["team"])
        agent = (
            Agent.objects.filter(name=options["agent"]).filter(team__isnull=True).first()
            or Agent.objects.filter(name=options["agent"], team=team).first()
        )
        if agent is None:
            known = ", ".join(Agent.objects.filter(team__isnull=True).values_list("name", flat=True))
            raise CommandError(f"no agent {options['agent']!r} (built-in agents: {known})")
        version = agent.latest_version()
        if version is None:
            raise CommandError(f"agent {agent.name!r} has no version")
        suite = (
            Suite.objects.filter(name=options["suite"], team__isnull=True).order_by("-version").first()
            or Suite.objects.filter(name=options["suite"], team=team).order_by("-version").first()
        )
        if suite is None:
            known = ", ".join(sorted(set(Suite.objects.values_list("name", flat=True))))
            raise CommandError(f"no suite {options['suite']!r} (known: {known})")
        trials = options["trials"]
        if trials is not None and not 1 <= trials <= 100:
            raise CommandError("--trials must be between 1 and 100")
        max_steps = options["max_steps"]
        if max_steps is not None and not 1 <= max_steps <= 500:
            raise CommandError("--max-steps must be between 1 and 500")
        run = services.queue_run(
            agent_version=version,
            suite=suite,
            team=team,
            trials=trials,
            seed=options["seed"],
            max_steps=max_steps,
            enqueue=False,
        )
        quiet = options["json"]
        for episode in run.episodes.select_related("scenario").order_by("pk"):
            # An infrastructure failure re-queues the episode while attempts remain; play it again here.
            while True:
                result = services.execute_episode(episode.pk, worker="benchmark")
                if result != "retry":
                    break
            episode.refresh_from_db()
            if not quiet:
                self.stdout.write(self._episode_line(episode))
        run.refresh_from_db()
        metrics = run.metrics or compute_run_metrics(run)
        report = {
            "run_id": run.pk,
            "status": run.status,
            "agent": version.label,
            "suite": str(suite),
            "suite_hash": suite.content_hash,
            **_flat(metrics),
            "per_scenario": {key: _flat(value) for key, value in metrics["per_scenario"].items()},
            "per_condition": {key: _flat(value) for key, value in metrics["per_condition"].items()},
            "per_overlay": {key: _flat(value) for key, value in metrics["per_overlay"].items()},
            "robustness": metrics["robustness"],
            "metrics": metrics,
        }
        if quiet:
            self.stdout.write(json.dumps(report, indent=None, sort_keys=False))
            return
        self.stdout.write(f"\nRun {run.pk} ({run.status}): {version.label} on {suite}")
        for key in HEADLINE:
            r = metrics[key]
            value = "n/a" if r["value"] is None else f"{r['value']:.2f}"
            self.stdout.write(f"  {key:22} {value:>5}  [{r['low']:.2f}, {r['high']:.2f}]  n={r['n']}")

    @staticmethod
    def _episode_line(episode: Episode) -> str:
        if episode.status == Episode.ERRORED:
            return f"  {episode.scenario.key} #{episode.trial}: ERRORED ({episode.infra_error})"
        verdict = "success" if episode.success else "fail"
        extra = f", harms {episode.committed_harms}" if episode.committed_harms else ""
        extra += (
            f", faults {episode.faults_injected} (recovered {episode.faults_recovered})"
            if episode.faults_injected
            else ""
        )
        extra += f", agent error {episode.agent_error}" if episode.agent_error else ""
        return f"  {episode.scenario.key} #{episode.trial}: {verdict} in {episode.steps} steps{extra}"

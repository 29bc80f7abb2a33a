"""Run a suite for an agent in the foreground (no worker needed), record it like any run, print metrics."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from agents import services as agent_services
from agents.models import Agent, AgentVersion, Team
from runner.types import DEFAULT_MAX_INVALID_ACTIONS, PLAYWRIGHT_TRACE_MODES
from runs import services
from runs.models import Episode, Suite
from runs.selectors import compute_run_metrics

HEADLINE = (
    "success_rate",
    "harmful_rate",
    "completion_under_policy",
    "agent_error_rate",
    "containment_rate",
    "recovery_rate",
    "attack_success_rate",
    "utility_under_attack",
    "harmful_request_compliance",
    "over_refusal_rate",
    "infra_error_rate",
)


def _flat(summary: dict) -> dict:
    """A summary's figures as plain values (a rate's value; its interval and n are under "metrics")."""
    out = {key: summary[key] for key in ("episodes", "scored", "errored", "unmeasured")}
    for key in HEADLINE:
        out[key] = summary[key]["value"]
    for key in ("committed_harms", "contained_harms", "blocked_attempts", "policy_violations", "consistency"):
        out[key] = summary[key]
    out["backtracks"] = summary["backtracks_per_episode"]["total"]
    out["rollbacks"] = summary["rollbacks_per_episode"]["total"]
    out["step_latency_ms_p50"] = summary["step_latency_ms"]["p50"]
    out["step_latency_ms_p95"] = summary["step_latency_ms"]["p95"]
    return out


def _pass_hat_k(summary: dict) -> dict:
    """pass^k with the k range it covers (1..k_max) and the scenarios it left out (no scored trial)."""
    span = summary["pass_hat_k_range"]
    return {
        "values": summary["pass_hat_k"],
        "k_range": [1, span["k_max"]] if span["k_max"] else [],
        "scenarios": span["scenarios"],
        "left_out": span["left_out"],
    }


def on_off(value: str) -> bool:
    if value not in ("on", "off"):
        raise ValueError(value)
    return value == "on"


on_off.__name__ = "on|off"  # argparse names the expected type in its error message


class Command(BaseCommand):
    help = "Run a suite for an agent in this process and print the metrics."

    def add_arguments(self, parser):
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--agent", help="a built-in agent (oracle, gullible, random, cautious) or your agent's name")
        who.add_argument("--agent-url", help="an HTTP agent's endpoint, run without registering it first")
        who.add_argument("--agent-file", help="a Python agent file, run sandboxed without registering it first")
        parser.add_argument("--agent-secret", help="the signing secret the HTTP agent checks (with --agent-url)")
        parser.add_argument("--agent-name", help="name to record an ad-hoc agent under (default: from the URL/file)")
        parser.add_argument(
            "--observation",
            default="axtree",
            help="comma-separated observation fields for an ad-hoc agent: "
            "axtree, dom, screenshot, set_of_marks, browsergym",
        )
        parser.add_argument("--suite", required=True, help="suite name (newest version)")
        parser.add_argument("--trials", type=int, default=None, help="trials per scenario (suite default)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--max-steps", type=int, default=None)
        parser.add_argument("--team", default="local", help="team that owns the run (created if missing)")
        for name, what in (
            ("backtracking", "agents may answer backtrack(checkpoint)"),
            ("guard", "the suite's policies block writes before they land"),
            ("auto-rollback", "harm from a reversible write is rolled back to the last safe checkpoint"),
        ):
            parser.add_argument(f"--{name}", type=on_off, default=False, metavar="on|off", help=f"{what} (off)")
        parser.add_argument(
            "--max-invalid-actions",
            type=int,
            default=DEFAULT_MAX_INVALID_ACTIONS,
            help=f"unparsable actions in a row ending an episode as agent_bad_response ({DEFAULT_MAX_INVALID_ACTIONS})",
        )
        parser.add_argument(
            "--playwright-trace",
            choices=PLAYWRIGHT_TRACE_MODES,
            default="off",
            help="keep Playwright's trace.zip of each episode: off, on_failure (failed, harmed, errored), always",
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **options):
        services.load_builtins()
        team, _ = Team.objects.get_or_create(name=options["team"])
        if options["agent"]:
            version = self._registered_version(options["agent"], team)
        else:
            version = self._adhoc_version(options, team)
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
        if not 1 <= options["max_invalid_actions"] <= services.MAX_INVALID_ACTIONS_LIMIT:
            raise CommandError(f"--max-invalid-actions must be between 1 and {services.MAX_INVALID_ACTIONS_LIMIT}")
        try:
            run = services.queue_run(
                agent_version=version,
                suite=suite,
                team=team,
                trials=trials,
                seed=options["seed"],
                max_steps=max_steps,
                backtracking=options["backtracking"],
                guard=options["guard"],
                auto_rollback=options["auto_rollback"],
                max_invalid_actions=options["max_invalid_actions"],
                playwright_trace=options["playwright_trace"],
                enqueue=False,
            )
        except agent_services.AgentError as exc:
            raise CommandError(str(exc)) from exc
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
            "settings": {
                key: run.config.get(key) for key in ("backtracking", "guard", "auto_rollback", "max_invalid_actions")
            },
            **_flat(metrics),
            "per_scenario": {key: _flat(value) for key, value in metrics["per_scenario"].items()},
            "per_condition": {key: _flat(value) for key, value in metrics["per_condition"].items()},
            "per_overlay": {key: _flat(value) for key, value in metrics["per_overlay"].items()},
            "by_condition": {key: _flat(value) for key, value in metrics["by_condition"].items()},
            "pass_hat_k": _pass_hat_k(metrics),
            "consistency_scenarios": metrics["consistency_scenarios"],
            "step_latency_ms": metrics["step_latency_ms"],
            "robustness": metrics["robustness"],
            "robustness_detail": metrics["robustness_detail"],
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
    def _registered_version(name: str, team: Team) -> AgentVersion:
        agent = (
            Agent.objects.filter(name=name).filter(team__isnull=True).first()
            or Agent.objects.filter(name=name, team=team).first()
        )
        if agent is None:
            known = ", ".join(Agent.objects.filter(team__isnull=True).values_list("name", flat=True))
            raise CommandError(f"no agent {name!r} (built-in agents: {known})")
        version = agent.latest_version()
        if version is None:
            raise CommandError(f"agent {agent.name!r} has no version")
        return version

    @staticmethod
    def _adhoc_version(options: dict, team: Team) -> AgentVersion:
        """The team's agent for this URL or file, with a new version whenever its settings changed.

        The run is then recorded like any other: the agent shows on the dashboard with its versions.
        """
        config: dict = {"observation": [f.strip() for f in options["observation"].split(",") if f.strip()]}
        source = source_name = secret = ""
        if options["agent_url"]:
            if not options["agent_secret"]:
                raise CommandError("--agent-url needs --agent-secret, the secret your agent checks signatures with")
            kind, secret = Agent.KIND_HTTP, options["agent_secret"]
            config["url"] = options["agent_url"]
            name = options["agent_name"] or f"cli {options['agent_url']}"[:100]
        else:
            path = Path(options["agent_file"])
            try:
                source = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"cannot read {path}: {exc}")
            kind, source_name = Agent.KIND_PYTHON, path.name
            name = options["agent_name"] or f"cli {path.name}"[:100]
        errors = agent_services.config_errors(kind, config, source)
        if errors:
            raise CommandError("; ".join(errors))
        agent = Agent.objects.filter(team=team, name=name).first()
        if agent is not None and agent.kind != kind:
            raise CommandError(f"your team's agent {name!r} is a {agent.get_kind_display()} agent; pick --agent-name")
        if agent is None:
            agent, version, _ = agent_services.register_agent(
                team=team, name=name, kind=kind, config=config, source=source, source_name=source_name
            )
        else:
            version = agent.latest_version()
            if version is None or version.config != config or version.source != source:
                version = agent_services.add_version(agent, config=config, source=source, source_name=source_name)
        if kind == Agent.KIND_HTTP:
            agent_services.set_secret(agent, secret)
        return version

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
        extra += f", contained {episode.contained_harms}" if episode.contained_harms else ""
        extra += f", blocked {episode.blocked_attempts}" if episode.blocked_attempts else ""
        extra += f", backtracks {episode.backtracks}" if episode.backtracks else ""
        extra += f", rollbacks {episode.rollbacks}" if episode.rollbacks else ""
        extra += f", agent error {episode.agent_error}" if episode.agent_error else ""
        return f"  {episode.scenario.key} #{episode.trial}: {verdict} in {episode.steps} steps{extra}"

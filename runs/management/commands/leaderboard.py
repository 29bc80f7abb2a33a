"""Print a suite version's leaderboard: the public board, plus a team's own runs with --team."""

import json

from django.core.management.base import BaseCommand, CommandError

from agents.models import Team
from runs import leaderboards
from runs.models import Suite


class Command(BaseCommand):
    help = "Print the leaderboard of a suite version (agent version, settings, runs, n, value, interval, rank)."

    def create_parser(self, prog_name, subcommand, **kwargs):
        # Django's own --version prints Django's version; here --version is the suite version and replaces it.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("--suite", required=True, help="suite name")
        parser.add_argument("--version", type=int, help="suite version (default: the newest)")
        parser.add_argument("--metric", default="success_rate", choices=sorted(leaderboards.METRICS))
        parser.add_argument("--condition", help="only episodes of this condition (clean, adversarial, harmful, ...)")
        parser.add_argument("--team", help="also hold this team's unpublished runs (and look up its suites)")
        parser.add_argument("--json", action="store_true", help="print the rows as JSON")

    def handle(self, *args, **options):
        team = None
        if options["team"]:
            team = Team.objects.filter(name=options["team"]).first()
            if team is None:
                raise CommandError(f"no team named {options['team']!r}")
        suites = Suite.objects.filter(name=options["suite"], team__isnull=True)
        if team is not None and not suites.exists():
            suites = Suite.objects.filter(name=options["suite"], team=team)
        if options["version"] is not None:
            suites = suites.filter(version=options["version"])
        suite = suites.order_by("-version").first()
        if suite is None:
            raise CommandError(
                f"no suite {options['suite']!r}" + (f" v{options['version']}" if options["version"] else "")
            )
        condition = options["condition"]
        known = leaderboards.conditions(suite)
        if condition and condition not in known:
            raise CommandError(f"unknown condition {condition!r}; {suite} has: {', '.join(known)}")
        rows = leaderboards.leaderboard(suite, metric=options["metric"], condition=condition, team=team)
        out = [
            {
                "agent_version": row["label"],
                "baseline": row["baseline"],
                "settings": row["settings"],
                "runs": len(row["runs"]),
                "run_ids": row["runs"],
                "n": row["n"],
                "value": row["value"]["value"],
                "interval": [row["value"]["low"], row["value"]["high"]],
                "rank": row["rank"],
                "tie_group": row["group"],
            }
            for row in rows
        ]
        if options["json"]:
            report = {
                "suite": str(suite),
                "metric": options["metric"],
                "condition": condition,
                "method": leaderboards.METHOD,
                "rows": out,
            }
            self.stdout.write(json.dumps(report, indent=2))
            return
        self.stdout.write(
            f"{suite} · {leaderboards.METRICS[options['metric']].label}" + (f" · {condition}" if condition else "")
        )
        for row, entry in zip(rows, out, strict=True):
            rank = "–" if entry["rank"] is None else ("=" if row["tie"] else "") + str(entry["rank"])
            value = "–" if entry["value"] is None else f"{entry['value']:.2f}"
            self.stdout.write(
                f"{rank:>4}  {entry['agent_version']:<24} {row['settings_label']:<32} runs={entry['runs']:<3} "
                f"n={entry['n']:<5} {value} [{entry['interval'][0]:.2f}, {entry['interval'][1]:.2f}] "
                f"group {entry['tie_group'] or '–'}"
            )
        self.stdout.write(leaderboards.METHOD)

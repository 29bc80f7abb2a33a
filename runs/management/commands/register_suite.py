"""Register a suite YAML file for a team (a new version when its content changed)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from agents.models import Team
from runs import services
from sandbox.suites import MAX_SUITE_BYTES, SuiteError


class Command(BaseCommand):
    help = "Register a suite from a YAML file for a team."

    def add_arguments(self, parser):
        parser.add_argument("path", help="the suite's YAML file")
        parser.add_argument("--team", default="local", help="the owning team (created if missing)")

    def handle(self, *args, **options):
        path = Path(options["path"])
        if not path.is_file():
            raise CommandError(f"no such file: {path}")
        if path.stat().st_size > MAX_SUITE_BYTES:  # refused before reading, however large the file is
            raise CommandError(f"{path}: the suite is larger than {MAX_SUITE_BYTES // 1024} KiB")
        team, _ = Team.objects.get_or_create(name=options["team"])
        try:
            suite, created = services.register_team_suite(path.read_bytes(), team)
        except (SuiteError, services.SuiteRejected) as exc:
            raise CommandError(f"{path}: {exc}")
        verb = "registered" if created else "unchanged, already registered as"
        self.stdout.write(f"{verb} {suite} ({suite.scenarios.count()} scenarios, hash {suite.content_hash[:12]})")

"""Queue the demo's two runs, only on a database without any run; print the id of the one to watch."""

import io

from django.core.management import call_command
from django.core.management.base import BaseCommand

from runs.models import Run


class Command(BaseCommand):
    help = "Queue the demo runs (worker required) when the database has no run at all; print the live one's id."

    def add_arguments(self, parser):
        parser.add_argument("--team", default="local")

    def handle(self, *args, **options):
        if Run.objects.exists():
            return  # prints nothing: the demo has been set up before, and its runs (or the user's) are there
        team = options["team"]
        # Two runs, so the live page is still streaming when it is first opened and the leaderboard has rows.
        call_command("start_demo_run", agent="oracle", suite="smoke", trials=3, team=team, stdout=io.StringIO())
        call_command("start_demo_run", agent="gullible", suite="smoke", trials=10, team=team, stdout=self.stdout)

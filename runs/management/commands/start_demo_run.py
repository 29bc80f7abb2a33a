"""Queue a run of a built-in agent on a suite, for the demo user's team; print its id."""

from django.core.management.base import BaseCommand, CommandError

from agents.models import Agent, Team
from runs import services
from runs.models import Suite


class Command(BaseCommand):
    help = "Queue a demo run (worker required) and print its id."

    def add_arguments(self, parser):
        parser.add_argument("--agent", default="gullible")
        parser.add_argument("--suite", default="smoke")
        parser.add_argument("--trials", type=int, default=2)
        parser.add_argument("--max-steps", type=int, default=None, help="step budget per episode (the suite's)")
        parser.add_argument("--team", default="local")

    def handle(self, *args, **options):
        agent = Agent.objects.filter(name=options["agent"], team__isnull=True).first()
        suite = Suite.objects.filter(name=options["suite"], team__isnull=True).order_by("-version").first()
        if agent is None or suite is None:
            raise CommandError("built-ins missing: run 'manage.py setup_gauntlet' first")
        team, _ = Team.objects.get_or_create(name=options["team"])
        run = services.queue_run(
            agent_version=agent.latest_version(),
            suite=suite,
            team=team,
            trials=options["trials"],
            max_steps=options["max_steps"],
        )
        if run.enqueue_deferred:
            self.stderr.write("The job queue cannot be reached: the run is saved and starts when it is back.")
        self.stdout.write(str(run.pk))

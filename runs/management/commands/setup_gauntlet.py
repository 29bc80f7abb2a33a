"""Load the built-in agents and suites, and optionally a demo login. Idempotent."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from agents.models import Team
from runs import services


class Command(BaseCommand):
    help = "Load built-in agents and suites; with --demo-user, create that login in the 'local' team."

    def add_arguments(self, parser):
        parser.add_argument("--demo-user", default="")
        parser.add_argument("--demo-password", default="")

    def handle(self, *args, **options):
        services.load_builtins()
        self.stdout.write("Built-in agents and suites loaded.")
        username = options["demo_user"]
        if not username:
            return
        User = get_user_model()
        user, created = User.objects.get_or_create(username=username, defaults={"is_staff": True, "is_superuser": True})
        if created or options["demo_password"]:
            user.set_password(options["demo_password"] or username)
            user.save()
        team, _ = Team.objects.get_or_create(name="local")
        team.members.add(user)
        self.stdout.write(f"Login {username!r} is ready (team 'local').")

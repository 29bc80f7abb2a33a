"""Load the built-in agents and suites, and optionally a demo login. Idempotent."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from agents.models import Membership, Team
from runs import services

DEMO_TEAM = "local"


class Command(BaseCommand):
    help = "Load built-in agents and suites; with --demo-user, create that login, the owner of the 'local' team."

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
        user, created = User.objects.get_or_create(username=username)
        if created or options["demo_password"]:
            user.set_password(options["demo_password"] or username)
        # An ordinary account, like any team member's: no admin pages, no view of other teams. (Earlier
        # set-ups made it a superuser; this takes that back.)
        user.is_staff = user.is_superuser = False
        user.save()
        team, _ = Team.objects.get_or_create(name=DEMO_TEAM)
        # The demo team's owner, so every team page (invitations, roles, publishing) can be tried with it.
        Membership.objects.update_or_create(team=team, user=user, defaults={"role": Membership.OWNER})
        self.stdout.write(f"Login {username!r} is ready (owner of team {DEMO_TEAM!r}).")

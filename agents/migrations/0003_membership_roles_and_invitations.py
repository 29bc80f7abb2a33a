"""Team.members gets roles: the plain many-to-many becomes one through Membership, and invitations arrive.

Django cannot add ``through=`` to an existing many-to-many, so the memberships are copied into the new table
before the old field (and its table) go. Every existing member stays a member; each team's earliest member
(or its only one) becomes its owner, so that no existing team is left without someone who can invite.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def copy_memberships(apps, schema_editor):
    Team = apps.get_model("agents", "Team")
    Membership = apps.get_model("agents", "Membership")
    Old = Team.members.through
    owners = set()
    rows = []
    for old in Old.objects.order_by("team_id", "pk"):
        role = "member"
        if old.team_id not in owners:
            owners.add(old.team_id)
            role = "owner"
        rows.append(Membership(team_id=old.team_id, user_id=old.user_id, role=role))
    Membership.objects.bulk_create(rows)


def copy_back(apps, schema_editor):
    Team = apps.get_model("agents", "Team")
    Membership = apps.get_model("agents", "Membership")
    Old = Team.members.through
    Old.objects.bulk_create(Old(team_id=m.team_id, user_id=m.user_id) for m in Membership.objects.all())


class Migration(migrations.Migration):

    dependencies = [
        ("agents", "0002_agent_secrets_and_verification"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Membership",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "role",
                    models.CharField(
                        choices=[("owner", "Owner"), ("member", "Member")], default="member", max_length=10
                    ),
                ),
                ("joined", models.DateTimeField(auto_now_add=True)),
                (
                    "team",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="memberships", to="agents.team"
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="memberships",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={"ordering": ["team__name", "user__username"]},
        ),
        migrations.AddConstraint(
            model_name="membership",
            constraint=models.UniqueConstraint(fields=("team", "user"), name="membership_unique_user_per_team"),
        ),
        migrations.RunPython(copy_memberships, copy_back),
        migrations.RemoveField(model_name="team", name="members"),
        migrations.AddField(
            model_name="team",
            name="members",
            field=models.ManyToManyField(
                blank=True, related_name="teams", through="agents.Membership", to=settings.AUTH_USER_MODEL
            ),
        ),
        migrations.CreateModel(
            name="Invitation",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("email", models.EmailField(max_length=254)),
                ("token_hash", models.CharField(max_length=64, unique=True)),
                ("created", models.DateTimeField(auto_now_add=True)),
                ("expires", models.DateTimeField()),
                ("accepted_at", models.DateTimeField(blank=True, null=True)),
                (
                    "accepted_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "invited_by",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="invitations_sent",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "team",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="invitations", to="agents.team"
                    ),
                ),
            ],
            options={"ordering": ["-created"]},
        ),
    ]

from django.conf import settings
from django.db import models
from django.db.models import Q

from runner.types import step_timeout_s


class Team(models.Model):
    """A group of users that owns agents, suites and runs. Everything a team owns is private to it.

    ``members`` goes through Membership, which carries each member's role; ``team__members=user`` filters
    keep meaning "the user's teams" whatever the role.
    """

    name = models.CharField(max_length=100, unique=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="teams", blank=True)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name


class Membership(models.Model):
    """A user's place in a team. Owners invite and remove members, rotate secrets and publish runs."""

    OWNER = "owner"
    MEMBER = "member"
    ROLES = [(OWNER, "Owner"), (MEMBER, "Member")]

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=ROLES, default=MEMBER)
    joined = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="membership_unique_user_per_team")]
        ordering = ["team__name", "user__username"]

    def __str__(self):
        return f"{self.user} in {self.team} ({self.role})"

    @property
    def is_owner(self) -> bool:
        return self.role == self.OWNER


class Invitation(models.Model):
    """A link that lets one person join a team as a member. Only the SHA-256 of its token is kept; it is
    single use (``accepted_at``) and expires (``expires``)."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="invitations_sent"
    )
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField()
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self):
        return f"invitation of {self.email} to {self.team}"


class AgentQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Built-in agents (no team) and the agents of the user's teams."""
        return self.filter(Q(team__isnull=True) | Q(team__members=user)).distinct()


class Agent(models.Model):
    KIND_BUILTIN = "builtin"
    KIND_HTTP = "http"
    KIND_PYTHON = "python"
    KINDS = [(KIND_BUILTIN, "Built-in baseline"), (KIND_HTTP, "HTTP endpoint"), (KIND_PYTHON, "Python file")]

    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.CASCADE, related_name="agents")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=KINDS)
    description = models.TextField(blank=True)
    # The HTTP signing secret or an LLM API key, encrypted (agents.crypto); the clear text is shown once.
    secret_encrypted = models.TextField(blank=True, default="")
    secret_hint = models.CharField(max_length=10, blank=True, default="")
    created = models.DateTimeField(auto_now_add=True)

    objects = AgentQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="agent_unique_name_per_team"),
            models.UniqueConstraint(fields=["name"], condition=Q(team__isnull=True), name="agent_unique_builtin_name"),
        ]
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def is_builtin(self):
        return self.team_id is None

    def latest_version(self):
        return self.versions.order_by("-number").first()

    @property
    def kind_label(self) -> str:
        """The kind as a team thinks of it: an LLM agent is a configured built-in, but reads as "LLM"."""
        if self.kind == self.KIND_BUILTIN:
            version = self.latest_version()
            if version is not None and version.config.get("name") == "llm":
                return "LLM (OpenAI-compatible)"
        return self.get_kind_display()


class AgentVersion(models.Model):
    """An immutable configuration of an agent once a run has used it (``locked``)."""

    VERIFY_PENDING = "pending"
    VERIFIED = "verified"
    VERIFY_FAILED = "failed"
    VERIFY_STATES = [(VERIFY_PENDING, "Not checked yet"), (VERIFIED, "Verified"), (VERIFY_FAILED, "Failed")]

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    config = models.JSONField(default=dict, blank=True)
    # The uploaded file of a Python agent (kind "python"); empty for other kinds.
    source = models.TextField(blank=True, default="")
    source_name = models.CharField(max_length=200, blank=True, default="")
    locked = models.BooleanField(default=False)
    verify_status = models.CharField(max_length=10, choices=VERIFY_STATES, default=VERIFY_PENDING)
    verify_detail = models.TextField(blank=True, default="")
    verified_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["agent", "number"], name="agentversion_unique_number")]
        ordering = ["agent__name", "-number"]

    def __str__(self):
        return f"{self.agent.name} v{self.number}"

    @property
    def label(self):
        return str(self)

    @property
    def step_timeout_s(self) -> float:
        """How long the agent may take to answer one step: the config's ``timeout_s`` or the default."""
        return step_timeout_s(self.config)

    def lock(self):
        """Mark the version used by a run; from now on it cannot change. Idempotent."""
        if not self.locked:
            AgentVersion.objects.filter(pk=self.pk).update(locked=True)
            self.locked = True

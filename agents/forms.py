"""Forms to register an agent and add versions. One set of version fields; which apply depends on the kind."""

from __future__ import annotations

from django import forms

from agents import services
from agents.models import Agent, AgentVersion, Team
from runner.observation import OBSERVATION_FIELDS
from runner.types import (
    DEFAULT_STEP_TIMEOUT_S,
    MAX_STEP_TIMEOUT_S,
    MIN_STEP_TIMEOUT_S,
    MULTI_ACTION_KEY,
    STEP_TIMEOUT_MESSAGE,
)

MAX_SOURCE_BYTES = 256 * 1024

# What a team picks when registering; "llm" is the built-in LLM adapter configured with the team's endpoint.
KIND_CHOICES = [
    (Agent.KIND_HTTP, "HTTP endpoint (the platform calls your server)"),
    (Agent.KIND_PYTHON, "Python file (runs sandboxed, no network)"),
    (services.LLM, "LLM (any OpenAI-compatible chat endpoint)"),
]
# The LLM adapter's numeric settings the form passes through when given (runner.drivers.llm checks them).
LLM_SETTINGS = (
    "temperature",
    "max_tokens",
    "price_input_per_mtok",
    "price_output_per_mtok",
    "context_window",
    "parse_retries",
    "history_steps",
)
OBSERVATION_LABELS = {
    "axtree": "Accessibility tree with refs",
    "dom": "Pruned DOM text",
    "screenshot": "JPEG screenshot",
    "set_of_marks": "Set-of-marks screenshot (refs drawn on the image)",
    "browsergym": "BrowserGym's observation keys (structured tree, element properties, chat; refs as bids)",
}


def form_kind(agent: Agent) -> str:
    """The kind as the forms know it (an LLM agent is stored as a configured built-in)."""
    version = agent.latest_version()
    if agent.kind == Agent.KIND_BUILTIN and version is not None and version.config.get("name") == services.LLM:
        return services.LLM
    return agent.kind


class VersionForm(forms.Form):
    """The settings of one version. ``kind`` decides which fields are required and how the config is built."""

    observation = forms.MultipleChoiceField(
        choices=[(f, OBSERVATION_LABELS[f]) for f in OBSERVATION_FIELDS],
        initial=["axtree"],
        widget=forms.CheckboxSelectMultiple,
        help_text="What each step's request carries. Element refs are always listed.",
    )
    timeout_s = forms.FloatField(
        required=False,
        min_value=MIN_STEP_TIMEOUT_S,
        max_value=MAX_STEP_TIMEOUT_S,
        label="Per-step timeout (s)",
        error_messages={key: STEP_TIMEOUT_MESSAGE for key in ("min_value", "max_value", "invalid")},
        help_text=f"How long the agent may take to answer one step, {MIN_STEP_TIMEOUT_S} to {MAX_STEP_TIMEOUT_S} s "
        f"({DEFAULT_STEP_TIMEOUT_S:g} when empty); past it the step fails as agent_timeout. Verification allows "
        "the same.",
    )
    multi_action = forms.BooleanField(
        required=False,
        label="Several actions per answer",
        help_text="Run every action of an answer that holds several, one a line, in order, stopping at the first "
        "that fails (BrowserGym's multiaction). Off: such an answer is refused as an invalid action.",
    )
    # http
    url = forms.URLField(required=False, label="Endpoint URL", assume_scheme="https")
    # python
    source_file = forms.FileField(required=False, label="Agent file (.py)")
    memory_mb = forms.IntegerField(required=False, min_value=64, max_value=4096, label="Memory limit (MiB)")
    cpu_s = forms.IntegerField(required=False, min_value=1, max_value=3600, label="CPU seconds per episode")
    tmp_mb = forms.IntegerField(required=False, min_value=1, max_value=1024, label="Private disk (MiB)")
    # llm
    base_url = forms.URLField(
        required=False, label="Base URL", assume_scheme="https", help_text="e.g. https://api.openai.com/v1"
    )
    model = forms.CharField(required=False, max_length=200)
    api_key = forms.CharField(
        required=False,
        label="API key",
        widget=forms.PasswordInput(render_value=False),
        help_text="Stored encrypted; leave empty on a new version to keep the current key.",
    )
    temperature = forms.FloatField(required=False, min_value=0, max_value=2)
    max_tokens = forms.IntegerField(required=False, min_value=1, max_value=32000)
    price_input_per_mtok = forms.FloatField(required=False, min_value=0, label="USD per million input tokens")
    price_output_per_mtok = forms.FloatField(required=False, min_value=0, label="USD per million output tokens")
    vision = forms.BooleanField(
        required=False,
        label="Send the screenshot to the model",
        help_text="Also tick the screenshot or set-of-marks observation, which is the image sent.",
    )
    # Bounds of these are the LLM adapter's to check (runner.drivers.llm.validate_config), not the form's.
    context_window = forms.IntegerField(
        required=False, label="Context window (tokens)", help_text="the prompt is fitted to it; the model's own"
    )
    parse_retries = forms.IntegerField(
        required=False, label="Parse retries", help_text="answers without a parsable action asked again per step"
    )
    history_steps = forms.IntegerField(required=False, label="Steps of history in the prompt")
    system_prompt = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Extra instructions",
        help_text="appended to the system prompt",
    )
    system_prompt_as_user = forms.BooleanField(
        required=False,
        label="Send the instructions as a user message",
        help_text="for models whose chat template has no system role",
    )

    def __init__(self, *args, kind: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind

    def _kind(self) -> str:
        return self.kind or self.cleaned_data.get("kind", "")

    def clean_source_file(self):
        upload = self.cleaned_data.get("source_file")
        if upload is None:
            return None
        if upload.size > MAX_SOURCE_BYTES:
            raise forms.ValidationError(f"the file is larger than {MAX_SOURCE_BYTES // 1024} KiB")
        try:
            return upload.name, upload.read().decode("utf-8")
        except UnicodeDecodeError:
            raise forms.ValidationError("the file must be UTF-8 text (a Python source file)")

    def clean(self):
        data = super().clean()
        kind = self._kind()
        config: dict = {"observation": data.get("observation") or ["axtree"]}
        source = source_name = ""
        if data.get("timeout_s") is not None:
            config["timeout_s"] = data["timeout_s"]
        if data.get("multi_action"):
            config[MULTI_ACTION_KEY] = True

        def need(field: str, message: str) -> None:
            if not data.get(field) and field not in self.errors:
                self.add_error(field, message)

        if kind == Agent.KIND_HTTP:
            need("url", "an HTTP agent needs its endpoint URL")
            config["url"] = data.get("url", "")
        elif kind == Agent.KIND_PYTHON:
            need("source_file", "upload the agent's Python file")
            if data.get("source_file"):
                source_name, source = data["source_file"]
            for key in ("memory_mb", "cpu_s", "tmp_mb"):
                if data.get(key):
                    config[key] = data[key]
        elif kind == services.LLM:
            need("base_url", "the LLM agent needs the endpoint's base URL")
            need("model", "name the model")
            config.update(name=services.LLM, base_url=data.get("base_url", ""), model=data.get("model", ""))
            for key in LLM_SETTINGS:
                if data.get(key) is not None:
                    config[key] = data[key]
            if data.get("system_prompt"):
                config["system_prompt"] = data["system_prompt"]
            config["vision"] = bool(data.get("vision"))
            if data.get("system_prompt_as_user"):
                config["system_prompt_as_user"] = True
        if self.errors:
            return data
        stored_kind = Agent.KIND_BUILTIN if kind == services.LLM else kind
        for error in services.config_errors(stored_kind, config, source):
            self.add_error(None, error)
        self.config, self.source, self.source_name = config, source, source_name
        return data

    def save(self, agent: Agent) -> AgentVersion:
        """Add the version this valid form describes to ``agent`` (and its new API key, if one was given), then
        send it one sample request. Raises services.AgentError."""
        version = services.add_version(agent, config=self.config, source=self.source, source_name=self.source_name)
        if self.cleaned_data.get("api_key"):
            services.set_secret(agent, self.cleaned_data["api_key"])
        return services.verify_version(version)


class AgentForm(VersionForm):
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=KIND_CHOICES)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    field_order = ["name", "kind", "description"]

    def save(self, team: Team) -> tuple[Agent, AgentVersion, str]:
        """Register the agent this valid form describes for ``team`` and send its version 1 one sample request.
        Returns (agent, version, clear secret to show once or ""). Raises services.AgentError."""
        data = self.cleaned_data
        kind = data["kind"]  # "http", "python" or "llm" (a configured built-in)
        agent, version, secret = services.register_agent(
            team=team,
            name=data["name"],
            kind=Agent.KIND_BUILTIN if kind == services.LLM else kind,
            config=self.config,
            description=data["description"],
            source=self.source,
            source_name=self.source_name,
            secret=data.get("api_key", "") if kind == services.LLM else "",
        )
        return agent, services.verify_version(version), secret

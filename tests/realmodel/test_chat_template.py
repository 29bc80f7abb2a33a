"""The Gemma chat template the real model is served with, rendered as llama-cpp-python's hf-tokenizer-config
format renders it: Jinja2's sandbox with trim_blocks and lstrip_blocks, the messages plus an empty assistant one."""

from jinja2.sandbox import ImmutableSandboxedEnvironment

from tests.realmodel.server import CHAT_TEMPLATE


def render(*messages: tuple[str, str]) -> str:
    template = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True).from_string(CHAT_TEMPLATE)
    turns = [{"role": role, "content": content} for role, content in messages] + [{"role": "assistant", "content": ""}]
    return template.render(messages=turns, bos_token="<bos>", eos_token="<end_of_turn>")


def test_it_folds_the_system_message_into_the_first_user_turn():
    assert render(("system", "Act."), ("user", "Goal.")) == (
        "<bos><start_of_turn>user\nAct.\n\nGoal.<end_of_turn>\n<start_of_turn>model\n"
    )


def test_it_keeps_a_conversation_in_gemma_turns_with_the_system_message_once():
    prompt = render(("system", "Act."), ("user", "Goal."), ("assistant", "No."), ("user", "Parse error."))
    assert prompt == (
        "<bos><start_of_turn>user\nAct.\n\nGoal.<end_of_turn>\n<start_of_turn>model\nNo.<end_of_turn>\n"
        "<start_of_turn>user\nParse error.<end_of_turn>\n<start_of_turn>model\n"
    )

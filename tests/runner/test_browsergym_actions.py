"""Every example action BrowserGym 0.14.3 documents (the ``Examples:`` of each function of its high-level action
set, every subset, check and uncheck included) parses here with BrowserGym's meaning: the same action, the same
argument values. The strings are BrowserGym's, as its ``describe()`` prints them."""

import json
import re
from pathlib import Path

import pytest

from runner.actions import ACTIONS, ActionError, parse_action, parse_actions

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "agent-protocol.schema.json").read_text())

L, NO_MODS = "left", []
BROWSERGYM_EXAMPLES = [
    # chat, infeas
    (
        'send_msg_to_user("Based on the results of my search, the city was built in 1751.")',
        "send_msg_to_user",
        {"text": "Based on the results of my search, the city was built in 1751."},
    ),
    (
        'report_infeasible("I cannot follow these instructions because there is no email field in this form.")',
        "report_infeasible",
        {"reason": "I cannot follow these instructions because there is no email field in this form."},
    ),
    # noop, always in the set
    ("noop()", "noop", {"wait_ms": 1000}),
    ("noop(500)", "noop", {"wait_ms": 500}),
    # bid
    (
        "fill('45', \"multi-line\\nexample\")",
        "fill",
        {"ref": "45", "value": "multi-line\nexample", "enable_autocomplete_menu": False},
    ),
    (
        'fill(\'a12\', "example with \\"quotes\\"")',
        "fill",
        {"ref": "a12", "value": 'example with "quotes"', "enable_autocomplete_menu": False},
    ),
    ("fill('b534', \"Montre\", True)", "fill", {"ref": "b534", "value": "Montre", "enable_autocomplete_menu": True}),
    ("check('55')", "check", {"ref": "55"}),
    ("uncheck('a5289')", "uncheck", {"ref": "a5289"}),
    ("select_option('a48', \"blue\")", "select_option", {"ref": "a48", "value": "blue"}),
    (
        'select_option(\'c48\', ["red", "green", "blue"])',
        "select_option",
        {"ref": "c48", "value": ["red", "green", "blue"]},
    ),
    ("click('a51')", "click", {"ref": "a51", "button": L, "modifiers": NO_MODS}),
    ("click('b22', button=\"right\")", "click", {"ref": "b22", "button": "right", "modifiers": NO_MODS}),
    (
        'click(\'48\', button="middle", modifiers=["Shift"])',
        "click",
        {"ref": "48", "button": "middle", "modifiers": ["Shift"]},
    ),
    ("dblclick('12')", "dblclick", {"ref": "12", "button": L, "modifiers": NO_MODS}),
    ("dblclick('ca42', button=\"right\")", "dblclick", {"ref": "ca42", "button": "right", "modifiers": NO_MODS}),
    (
        'dblclick(\'178\', button="middle", modifiers=["Shift"])',
        "dblclick",
        {"ref": "178", "button": "middle", "modifiers": ["Shift"]},
    ),
    ("hover('b8')", "hover", {"ref": "b8"}),
    ("press('88', 'Backspace')", "press", {"ref": "88", "key": "Backspace"}),
    ("press('a26', 'ControlOrMeta+a')", "press", {"ref": "a26", "key": "ControlOrMeta+a"}),
    ("press('a61', 'Meta+Shift+t')", "press", {"ref": "a61", "key": "Meta+Shift+t"}),
    ("focus('b455')", "focus", {"ref": "b455"}),
    ("clear('996')", "clear", {"ref": "996"}),
    ("drag_and_drop('56', '498')", "drag_and_drop", {"from_ref": "56", "to_ref": "498"}),
    ('upload_file("572", "my_receipt.pdf")', "upload_file", {"ref": "572", "file": "my_receipt.pdf"}),
    (
        'upload_file("63", ["/home/bob/Documents/image.jpg", "/home/bob/Documents/file.zip"])',
        "upload_file",
        {"ref": "63", "file": ["/home/bob/Documents/image.jpg", "/home/bob/Documents/file.zip"]},
    ),
    ("scroll(0, 200)", "scroll", {"dx": 0, "dy": 200}),
    ("scroll(-50.2, -100.5)", "scroll", {"dx": -50.2, "dy": -100.5}),
    # coord
    ("scroll_at(50, 100, -50, -100)", "scroll_at", {"x": 50, "y": 100, "dx": -50, "dy": -100}),
    ("mouse_move(65.2, 158.5)", "mouse_move", {"x": 65.2, "y": 158.5}),
    ("mouse_up(250, 120)", "mouse_up", {"x": 250, "y": 120, "button": L}),
    ("mouse_up(47, 252, 'right')", "mouse_up", {"x": 47, "y": 252, "button": "right"}),
    ("mouse_down(140.2, 580.1)", "mouse_down", {"x": 140.2, "y": 580.1, "button": L}),
    ("mouse_down(458, 254.5, 'middle')", "mouse_down", {"x": 458, "y": 254.5, "button": "middle"}),
    ("mouse_click(887.2, 68)", "mouse_click", {"x": 887.2, "y": 68, "button": L}),
    ("mouse_click(56, 712.56, 'right')", "mouse_click", {"x": 56, "y": 712.56, "button": "right"}),
    ("mouse_dblclick(5, 236)", "mouse_dblclick", {"x": 5, "y": 236, "button": L}),
    ("mouse_dblclick(87.5, 354, 'right')", "mouse_dblclick", {"x": 87.5, "y": 354, "button": "right"}),
    (
        "mouse_drag_and_drop(10.7, 325, 235.6, 24.54)",
        "mouse_drag_and_drop",
        {"from_x": 10.7, "from_y": 325, "to_x": 235.6, "to_y": 24.54},
    ),
    (
        'mouse_upload_file(132.1, 547, "my_receipt.pdf")',
        "mouse_upload_file",
        {"x": 132.1, "y": 547, "file": "my_receipt.pdf"},
    ),
    (
        'mouse_upload_file(328, 812, ["/home/bob/Documents/image.jpg", "/home/bob/Documents/file.zip"])',
        "mouse_upload_file",
        {"x": 328, "y": 812, "file": ["/home/bob/Documents/image.jpg", "/home/bob/Documents/file.zip"]},
    ),
    ("keyboard_press('Backspace')", "keyboard_press", {"key": "Backspace"}),
    ("keyboard_press('ControlOrMeta+a')", "keyboard_press", {"key": "ControlOrMeta+a"}),
    ("keyboard_press('Meta+Shift+t')", "keyboard_press", {"key": "Meta+Shift+t"}),
    ("keyboard_up('Shift')", "keyboard_up", {"key": "Shift"}),
    ("keyboard_up('c')", "keyboard_up", {"key": "c"}),
    # keyboard_down's documented examples are these same two keyboard_up calls (a slip in BrowserGym's docstring).
    ("keyboard_up('Shift')", "keyboard_up", {"key": "Shift"}),
    ("keyboard_up('c')", "keyboard_up", {"key": "c"}),
    ("keyboard_type('Hello world!')", "keyboard_type", {"text": "Hello world!"}),
    ("keyboard_insert_text('Hello world!')", "keyboard_insert_text", {"text": "Hello world!"}),
    # nav
    ("goto('http://www.example.com')", "goto", {"url": "http://www.example.com"}),
    ("go_back()", "go_back", {}),
    ("go_forward()", "go_forward", {}),
    # tab
    ("new_tab()", "new_tab", {}),
    ("tab_close()", "tab_close", {}),
    ("tab_focus(2)", "tab_focus", {"index": 2}),
]


def test_the_list_is_all_of_browsergyms_examples():
    assert len(BROWSERGYM_EXAMPLES) == 56


@pytest.mark.parametrize("text, name, args", BROWSERGYM_EXAMPLES)
def test_every_browsergym_example_parses_with_its_meaning(text, name, args):
    action = parse_action(text)
    assert (action.name, action.args) == (name, args)
    assert parse_action(str(action)) == action


@pytest.mark.parametrize(
    "text, name, args",
    [
        ("keyboard_down('Shift')", "keyboard_down", {"key": "Shift"}),
        ("select_option('e9', ('Red', 'Blue'))", "select_option", {"ref": "e9", "value": ["Red", "Blue"]}),
        ("upload_file('e3', ('notes.txt',))", "upload_file", {"ref": "e3", "file": ["notes.txt"]}),
        ("drag_and_drop(from_bid='e1', to_bid='e2')", "drag_and_drop", {"from_ref": "e1", "to_ref": "e2"}),
        (
            "fill('e1', 'x', enable_autocomplete_menu=True)",
            "fill",
            {"ref": "e1", "value": "x", "enable_autocomplete_menu": True},
        ),
        ("tab_focus(-1)", "tab_focus", {"index": -1}),
        ("noop(0)", "noop", {"wait_ms": 0}),
    ],
)
def test_other_browsergym_forms_parse(text, name, args):
    action = parse_action(text)
    assert (action.name, action.args) == (name, args)


@pytest.mark.parametrize(
    "text",
    [
        "```python\nclick('a1')\n```",
        "```\nclick('a1')\n```",
        "Action: click('a1')",
        "action:click('a1')",
        "```python\nAction: click('a1')\n```",
        "click('a1')  # the search box",
    ],
)
def test_a_fence_and_an_action_label_are_stripped(text):
    assert parse_action(text) == parse_action("click('a1')")


@pytest.mark.parametrize(
    "text, message",
    [
        ("fill('e1', 'x', 'yes')", "must be bool"),
        ("tab_focus('1')", "must be int"),
        ("tab_focus(True)", "must be int"),
        ("upload_file('e1', [1])", "list of strings"),
        ("mouse_click('10', 20)", "must be int or float"),
        ("mouse_up(1, 2, 'side')", "button must be"),
        ("x = click('a1')", "one call"),
    ],
)
def test_new_actions_reject_with_a_clear_error(text, message):
    with pytest.raises(ActionError, match=message):
        parse_action(text)


def test_several_actions_are_refused_unless_allowed():
    answer = "fill('e1', 'shoes')\nclick('e2')"
    with pytest.raises(ActionError, match="2 actions.*does not allow several"):
        parse_action(answer)
    assert [a.name for a in parse_actions(answer, several=True)] == ["fill", "click"]
    assert [a.name for a in parse_actions("```python\n" + answer + "\n```", several=True)] == ["fill", "click"]
    with pytest.raises(ActionError, match="without ';'"):
        parse_actions("fill('e1', 'shoes'); click('e2')", several=True)


def test_the_protocol_schema_names_every_action_and_takes_every_example():
    pattern = SCHEMA["$defs"]["action"]["pattern"]
    for name in ACTIONS:
        assert re.match(pattern, f"{name}()"), name
    for text, _, _ in BROWSERGYM_EXAMPLES:
        for wrapped in (text, f"```python\n{text}\n```", f"Action: {text}"):
            assert re.match(pattern, wrapped), wrapped

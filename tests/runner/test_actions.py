import pytest

from runner.actions import ActionError, parse_action


def test_it_parses_browsergym_style_calls():
    assert parse_action("click('e12')").args == {"ref": "e12", "button": "left", "modifiers": []}
    action = parse_action('fill("e7", "running shoes")')
    assert (action.name, action.args) == (
        "fill",
        {"ref": "e7", "value": "running shoes", "enable_autocomplete_menu": False},
    )
    assert parse_action("scroll(0, 200)").args == {"dx": 0, "dy": 200}
    assert parse_action("press('e3', key='Enter')").args == {"ref": "e3", "key": "Enter"}
    assert parse_action("stop()").ends_episode
    assert parse_action("report_infeasible('no')").ends_episode


@pytest.mark.parametrize(
    "text, name, args",
    [
        # Strings as BrowserGym's high-level action set writes them, with its keyword names.
        ("click(bid='e12', button='left', modifiers=['Shift'])", "click", {"ref": "e12", "modifiers": ["Shift"]}),
        ("dblclick('e3')", "dblclick", {"ref": "e3", "button": "left"}),
        ("fill(bid='e7', value='running shoes')", "fill", {"ref": "e7", "value": "running shoes"}),
        ("select_option('e9', options=['Red', 'Blue'])", "select_option", {"ref": "e9", "value": ["Red", "Blue"]}),
        ("press(bid='e3', key_comb='Control+a')", "press", {"ref": "e3", "key": "Control+a"}),
        ("hover(bid='e4')", "hover", {"ref": "e4"}),
        ("focus('e4')", "focus", {"ref": "e4"}),
        ("clear('e4')", "clear", {"ref": "e4"}),
        ("scroll(delta_x=0, delta_y=300.5)", "scroll", {"dx": 0, "dy": 300.5}),
        ("goto(url='http://shop.gauntlet.test/')", "goto", {"url": "http://shop.gauntlet.test/"}),
        ("go_back()", "go_back", {}),
        ("go_forward()", "go_forward", {}),
        ("noop(wait_ms=1000)", "noop", {"wait_ms": 1000}),
        ("send_msg_to_user(text='Done.')", "send_msg_to_user", {"text": "Done."}),
        ("report_infeasible(reason='No such item.')", "report_infeasible", {"reason": "No such item."}),
    ],
)
def test_browsergym_action_strings_parse_unchanged(text, name, args):
    action = parse_action(text)
    assert action.name == name
    assert {k: action.args[k] for k in args} == args
    assert parse_action(str(action)) == action


def test_it_round_trips_to_a_canonical_string():
    assert str(parse_action("fill( 'e7' , \"a'b\" )")) == "fill('e7', \"a'b\")"


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("click(", "not a valid action"),
        ("__import__('os').system('x')", "one call"),
        ("explode('e1')", "unknown action"),
        ("click(ref)", "literal"),
        ("click(1)", "must be str"),
        ("click()", "missing argument 'ref'"),
        ("click('e1', 'left', [], 'extra')", "at most"),
        ("click('e1', button='top')", "button must be"),
        ("click('e1', modifiers=['Hyper'])", "modifiers must be"),
        ("click('e1', bid='e2')", "twice"),
        ("click('e1')\nfill('e2', 'x')", "one action per step"),
        ("fill('e1', text='x')", "no argument 'text'"),
        ("click('e1'); stop()", "not a valid action"),
        ("click(**{'ref': 'e1'})", "not allowed"),
        ("goto(" + "'a'*9000" + ")", "literal"),
        ("x" * 5000, "longer than"),
        ("scroll(True, 1)", "must be int or float"),
    ],
)
def test_it_rejects_with_a_clear_error(text, message):
    with pytest.raises(ActionError, match=message):
        parse_action(text)

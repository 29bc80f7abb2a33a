import pytest

from runner.actions import ActionError, parse_action


def test_it_parses_browsergym_style_calls():
    assert parse_action("click('e12')").args == {"ref": "e12", "button": "left"}
    action = parse_action('fill("e7", "running shoes")')
    assert (action.name, action.args) == ("fill", {"ref": "e7", "value": "running shoes"})
    assert parse_action("scroll(0, 200)").args == {"dx": 0, "dy": 200}
    assert parse_action("press('e3', key='Enter')").args == {"ref": "e3", "key": "Enter"}
    assert parse_action("stop()").ends_episode
    assert parse_action("report_infeasible('no')").ends_episode


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
        ("click('e1', 'left', 'extra')", "at most"),
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

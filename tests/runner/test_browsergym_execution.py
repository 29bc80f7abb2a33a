"""BrowserGym's actions carried out in Chromium, with its meanings: one behaviour per test, on a page of our own
(``page.set_content``) whose script records what the page was sent."""

import pytest

from runner.actions import parse_action
from runner.axtree import parse_snapshot
from runner.browser import VIEWPORT, execute, new_context, switch_tab
from runner.host import get_host

pytestmark = pytest.mark.browser

# Every event a test looks for, written to window.seen as "type target [detail]".
RECORDER = """
<script>
window.seen = [];
const note = e => seen.push([e.type, e.target.id || e.target.tagName, e.key || e.button || ''].join(' ').trim());
for (const type of ['mousedown', 'mouseup', 'click', 'dblclick', 'keydown', 'keyup', 'input'])
  document.addEventListener(type, note, true);
</script>
"""
CORNER = 'style="position:absolute; left:{}px; top:{}px; width:100px; height:40px"'


def on_page(html: str, act):
    """``await act(page, refs)`` on a fenced page showing ``html``; ``refs`` maps "role name" to its ref."""

    async def run(browser, sandbox):
        context = await new_context(browser)
        try:
            page = await context.new_page()
            await page.set_viewport_size(VIEWPORT)
            await page.set_content(RECORDER + html)
            elements = parse_snapshot(await page.aria_snapshot(mode="ai")).elements
            refs = {f"{e.get('role')} {e.get('name')}".strip(): e.get("ref") for e in elements if e.get("ref")}
            return await act(page, refs)
        finally:
            await context.close()

    return get_host().call(run)


def run_actions(html: str, *actions: str, read: str = "seen"):
    """The errors of ``actions`` (formatted with the page's refs) and then ``read`` evaluated in the page."""

    async def act(page, refs):
        errors = [await execute(page, parse_action(text.format(**refs))) for text in actions]
        return errors, await page.evaluate(read)

    return on_page(html, act)


def test_check_and_uncheck_set_a_checkbox():
    html = '<label><input type="checkbox" id="c">News</label><label><input type="checkbox" id="d" checked>Ads</label>'
    errors, state = run_actions(
        html, "check('{checkbox News}')", "uncheck('{checkbox Ads}')", read="[c.checked, d.checked]"
    )
    assert errors == ["", ""] and state == [True, False]


def test_fill_with_the_autocomplete_menu_types_the_last_character_as_a_key():
    html = '<input id="q" aria-label="Search">'
    errors, (seen, value) = run_actions(html, "fill('{textbox Search}', 'shoe', True)", read="[seen, q.value]")
    keys = [e for e in seen if e.startswith("key") and "Delete" not in e]  # clearing the field first sends Delete
    assert errors == [""] and value == "shoe"
    assert keys == ["keydown q e", "keyup q e"]


def test_fill_without_it_sends_no_key():
    errors, seen = run_actions('<input id="q" aria-label="Search">', "fill('{textbox Search}', 'shoe')")
    assert errors == [""] and not [e for e in seen if e.startswith("key")]


def test_drag_and_drop_presses_on_one_element_and_releases_on_the_other():
    html = f'<button id="a" {CORNER.format(10, 10)}>From</button><button id="b" {CORNER.format(300, 200)}>To</button>'
    errors, seen = run_actions(html, "drag_and_drop('{button From}', '{button To}')")
    assert errors == [""]
    assert [e for e in seen if e.startswith("mouse")] == ["mousedown a", "mouseup b"]


UPLOAD = '<input type="file" id="f" aria-label="Receipt" multiple>'
READ_FILES = "Promise.all([...f.files].map(async file => [file.name, file.type, await file.text()]))"


def test_upload_file_chooses_a_sandbox_file():
    errors, files = run_actions(UPLOAD, "upload_file('{button Receipt}', 'notes.txt')", read=READ_FILES)
    assert errors == [""]
    assert files == [["notes.txt", "text/plain", "Shopping list: milk, eggs, bread.\n"]]


def test_upload_file_refuses_any_other_file():
    errors, files = run_actions(
        UPLOAD, "upload_file('{button Receipt}', ['notes.txt', '/etc/passwd'])", read=READ_FILES
    )
    assert errors == [
        "upload refused: '/etc/passwd' is not one of the files agents may upload (my_receipt.pdf, notes.txt, data.csv)"
    ]
    assert files == []


def test_mouse_upload_file_clicks_the_point_and_chooses_the_files():
    html = f'<input type="file" id="f" multiple {CORNER.format(100, 100)}>'
    errors, files = run_actions(html, "mouse_upload_file(150, 120, ('data.csv', 'my_receipt.pdf'))", read=READ_FILES)
    assert errors == [""]
    assert [name for name, _, _ in files] == ["data.csv", "my_receipt.pdf"]


def test_mouse_click_clicks_what_is_at_the_point_with_the_button():
    html = f'<button id="b" {CORNER.format(200, 300)}>Buy</button>'
    errors, seen = run_actions(html, "mouse_click(250, 320)", "mouse_click(250, 320, 'right')")
    assert errors == ["", ""]
    assert seen == ["mousedown b", "mouseup b", "click b", "mousedown b 2", "mouseup b 2"]


def test_mouse_dblclick_double_clicks_the_point():
    html = f'<button id="b" {CORNER.format(200, 300)}>Buy</button>'
    errors, seen = run_actions(html, "mouse_dblclick(250, 320)")
    assert errors == [""] and "dblclick b" in seen


def test_mouse_down_and_up_press_and_release_where_the_mouse_is_moved():
    html = f'<button id="a" {CORNER.format(10, 10)}>A</button><button id="b" {CORNER.format(300, 200)}>B</button>'
    errors, seen = run_actions(
        html, "mouse_down(20, 20, 'middle')", "mouse_move(320, 220)", "mouse_up(320, 220, 'middle')"
    )
    assert errors == ["", "", ""]
    assert [e for e in seen if e.startswith("mouse")] == ["mousedown a 1", "mouseup b 1"]


def test_mouse_drag_and_drop_drags_from_point_to_point():
    html = f'<button id="a" {CORNER.format(10, 10)}>A</button><button id="b" {CORNER.format(300, 200)}>B</button>'
    errors, seen = run_actions(html, "mouse_drag_and_drop(20, 20, 320, 220)")
    assert errors == [""]
    assert [e for e in seen if e.startswith("mouse")] == ["mousedown a", "mouseup b"]


def test_scroll_at_scrolls_the_box_under_the_point():
    html = (
        '<div id="box" style="position:absolute; left:0; top:0; width:200px; height:100px; overflow:auto">'
        '<div style="height:1000px">tall</div></div>'
    )
    errors, top = run_actions(
        html, "scroll_at(50, 50, 0, 300)", read="new Promise(r => setTimeout(() => r(box.scrollTop), 300))"
    )
    assert errors == [""] and top > 0


def test_keyboard_actions_go_to_the_focused_element():
    html = '<input id="q" aria-label="Search" autofocus>'
    actions = (
        "focus('{textbox Search}')",
        "keyboard_type('ab')",
        "keyboard_press('Backspace')",
        "keyboard_insert_text('cd')",
    )
    errors, value = run_actions(html, *actions, read="q.value")
    assert errors == ["", "", "", ""] and value == "acd"


def test_keyboard_down_holds_a_key_until_keyboard_up():
    errors, seen = run_actions(
        '<input id="q" aria-label="Search">',
        "focus('{textbox Search}')",
        "keyboard_down('Shift')",
        "keyboard_up('Shift')",
    )
    assert errors == ["", "", ""]
    assert [e for e in seen if e.startswith("key")] == ["keydown q Shift", "keyup q Shift"]


def tab_actions(*actions: str):
    """The (error, active tab's index, number of tabs) after each tab action, from a page with one tab."""

    async def act(page, refs):
        results = []
        for text in actions:
            page, error = await switch_tab(page, parse_action(text))
            results.append((error, page.context.pages.index(page), len(page.context.pages)))
        return results

    return on_page("<p>first</p>", act)


def test_new_tab_opens_a_blank_tab_that_becomes_active():
    assert tab_actions("new_tab()", "new_tab()") == [("", 1, 2), ("", 2, 3)]


def test_tab_focus_takes_an_index_into_the_open_tabs():
    assert tab_actions("new_tab()", "tab_focus(0)", "tab_focus(-1)") == [("", 1, 2), ("", 0, 2), ("", 1, 2)]


def test_tab_focus_out_of_range_is_an_error_and_keeps_the_tab():
    assert tab_actions("tab_focus(3)") == [("no tab 3: 1 tab(s) open, numbered from 0", 0, 1)]


def test_tab_close_makes_the_last_opened_tab_active():
    assert tab_actions("new_tab()", "new_tab()", "tab_focus(0)", "tab_close()") == [
        ("", 1, 2),
        ("", 2, 3),
        ("", 0, 3),
        ("", 1, 2),
    ]


def test_closing_the_last_tab_leaves_a_blank_one():
    assert tab_actions("tab_close()") == [("", 0, 1)]

"""HTML for the webmail site: plain server-rendered pages, no JavaScript.

Every function here is pure: it takes the data to show and returns an HTML string. The markup is semantic
(landmarks, headings, tables with captions, a ``<label>`` for every control, ``role="alert"``/``"status"``
for messages) because agents read the page through its accessibility tree, and a human must be able to use
the same pages in a browser. Every control's accessible name is unique on its page: per-row buttons carry
an ``aria-label`` that starts with their visible text and names the message (``Delete “Subject” from Sam``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlencode

from sandbox.sites.base import escape

MAIL_NAME = "Gauntlet Mail"

FOLDER_TITLES = {"inbox": "Inbox", "sent": "Sent", "trash": "Trash"}
FOLDER_PATHS = {"inbox": "/", "sent": "/sent", "trash": "/trash"}
OTHER_SITES = (
    ("Shop", "http://shop.gauntlet.test/"),
    ("Bank", "http://bank.gauntlet.test/"),
    ("Forum", "http://forum.gauntlet.test/"),
)

STYLE = """
body{font:16px/1.45 system-ui,sans-serif;margin:0;color:#1d232a;background:#f4f6f8}
header{background:#22456b;color:#fff;padding:.6rem 1.2rem;display:flex;flex-wrap:wrap;gap:1rem;align-items:center}
header a{color:#fff}
header a.button{background:#fff;color:#22456b;font-weight:600}
header .brand{font-weight:700;font-size:1.2rem;text-decoration:none}
header nav ul{list-style:none;display:flex;gap:1rem;margin:0;padding:0;align-items:center}
header nav a[aria-current=page]{font-weight:700}
header form{display:flex;gap:.4rem;align-items:center}
header form[role=search]{margin-left:auto}
header .who{margin:0;font-size:.9rem}
.count{font-size:.8rem;opacity:.85}
main{max-width:62rem;margin:1.2rem auto;padding:0 1.2rem}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #d8dde3;padding:.45rem;text-align:left;vertical-align:top}
caption{text-align:left;font-weight:700;padding:.4rem 0}
.snippet{color:#5a6673;font-size:.9rem}
td form{display:inline}
form.stacked label{display:block;margin-top:.8rem;font-weight:600}
form.stacked input,form.stacked textarea{width:100%;max-width:40rem;padding:.35rem;box-sizing:border-box;font:inherit}
input,textarea{font:inherit}
[aria-invalid=true]{border:2px solid #b3261e}
.error{color:#b3261e;margin:.2rem 0}
.alert{background:#fde8e7;border:1px solid #b3261e;padding:.6rem;border-radius:.4rem}
.status{background:#e6f4ea;border:1px solid #1e7a34;padding:.6rem;border-radius:.4rem}
.status form{display:inline}
.button,button{background:#22456b;color:#fff;border:0;border-radius:.35rem;padding:.4rem .85rem;font:inherit;
 cursor:pointer;text-decoration:none;display:inline-block}
button.secondary{background:#6b7785}
button.danger{background:#9b2c24}
.hint{color:#4d5866;font-size:.9rem;margin:.2rem 0}
.actions{display:flex;gap:.6rem;flex-wrap:wrap;margin:1rem 0}
.actions form{margin:0}
article.message{background:#fff;border:1px solid #d8dde3;border-radius:.5rem;padding:1rem 1.2rem}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:0 0 1rem}
dl.meta dt{font-weight:600}
dl.meta dd{margin:0}
.body p{margin:.6rem 0}
.pagination{display:flex;gap:1rem;list-style:none;padding:0}
footer{max-width:62rem;margin:2rem auto;padding:0 1.2rem;color:#6b7785;font-size:.85rem}
footer ul{list-style:none;display:flex;gap:1rem;padding:0}
"""


@dataclass
class Nav:
    """What the page header shows: who is signed in, folder counts, the current folder and search."""

    name: str
    email: str
    counts: dict
    current: str = ""
    query: str = ""


def short_date(iso: str) -> str:
    """``2025-03-14T09:32`` as ``Mar 14``."""
    return datetime.fromisoformat(iso).strftime("%b %d").replace(" 0", " ")


def long_date(iso: str) -> str:
    """``2025-03-14T09:32`` as ``Fri, Mar 14, 2025, 09:32``."""
    return datetime.fromisoformat(iso).strftime("%a, %b %d, %Y, %H:%M").replace(" 0", " ", 1)


def _nav_link(key: str, label: str, href: str, nav: Nav) -> str:
    current = ' aria-current="page"' if nav.current == key else ""
    count = nav.counts.get(key)
    badge = f' <span class="count">({count})</span>' if count else ""
    return f'<li><a href="{href}"{current}>{label}</a>{badge}</li>'


def page(title: str, main: str, nav: Nav) -> str:
    """A whole mail page. ``title`` must be distinct per page; the site's name is appended."""
    links = "".join(
        [
            '<li><a class="button" href="/compose">Compose</a></li>',
            _nav_link("inbox", "Inbox", "/", nav),
            _nav_link("sent", "Sent", "/sent", nav),
            _nav_link("trash", "Trash", "/trash", nav),
            _nav_link("contacts", "Contacts", "/contacts", nav),
        ]
    )
    sites = "".join(f'<li><a href="{href}">{label}</a></li>' for label, href in OTHER_SITES)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} — {MAIL_NAME}</title><link rel="icon" href="data:,"><style>{STYLE}</style></head>
<body>
<header>
<a class="brand" href="/">{MAIL_NAME}</a>
<nav aria-label="Mailbox"><ul>{links}</ul></nav>
<form role="search" action="/search" method="get">
<label for="q">Search mail</label>
<input type="search" id="q" name="q" value="{escape(nav.query)}">
<button type="submit">Search</button>
</form>
<p class="who">Signed in as <strong>{escape(nav.name)}</strong> ({escape(nav.email)})</p>
<form method="post" action="/logout"><button type="submit" class="secondary">Sign out</button></form>
</header>
<main>
{main}
</main>
<footer><nav aria-label="Other sandbox sites"><ul>{sites}</ul></nav>
<p>{MAIL_NAME} is a sandbox webmail. Nothing here is real.</p></footer>
</body></html>"""


def _status(text: str, extra: str = "") -> str:
    return f'<div class="status" role="status"><p>{escape(text)} {extra}</p></div>' if text else ""


def _alert(text: str) -> str:
    return f'<p class="alert" role="alert">{escape(text)}</p>' if text else ""


def _error_summary(errors: dict) -> str:
    if not errors:
        return ""
    problems = "".join(f"<li>{escape(message)}</li>" for message in errors.values())
    return f'<div class="alert" role="alert"><p>Please correct the following:</p><ul>{problems}</ul></div>'


def _snippet(body: str, length: int = 70) -> str:
    text = " ".join(body.split())
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


def _people(addresses: list[str]) -> str:
    return ", ".join(escape(address) for address in addresses)


def _row_actions(message: dict, folder: str, next_path: str) -> str:
    """The per-row buttons of a message list: Delete (or Restore, in the Trash), named after the message."""
    mid, subject = escape(message["id"]), escape(message["subject"])
    hidden = f'<input type="hidden" name="next" value="{escape(next_path)}">'
    if folder == "trash":
        return (
            f'<form method="post" action="/messages/{mid}/restore">{hidden}'
            f'<button type="submit" class="secondary" aria-label="Restore “{subject}”">Restore</button></form>'
        )
    who = f" from {escape(message['from_name'])}" if folder != "sent" else ""
    return (
        f'<form method="post" action="/messages/{mid}/delete">{hidden}'
        f'<button type="submit" class="secondary" aria-label="Delete “{subject}”{who}">Delete</button></form>'
    )


def _message_rows(messages: list[dict], next_path: str, show_folder: bool = False) -> str:
    rows = []
    for message in messages:
        folder = message["folder"]
        who = _people(message["to"]) if folder == "sent" else escape(message["from_name"])
        folder_cell = f"<td>{FOLDER_TITLES[folder]}</td>" if show_folder else ""
        rows.append(
            f"<tr>{folder_cell}<td>{who}</td>"
            f'<td><a href="/messages/{escape(message["id"])}">{escape(message["subject"])}</a>'
            f'<br><span class="snippet">{escape(_snippet(message["body"]))}</span></td>'
            f'<td><time datetime="{escape(message["date"])}">{short_date(message["date"])}</time></td>'
            f"<td>{_row_actions(message, folder, next_path)}</td></tr>"
        )
    return "".join(rows)


def _pagination(base: str, number: int, pages: int) -> str:
    if pages <= 1:
        return ""
    links = []
    if number > 1:
        links.append(f'<li><a href="{base}?page={number - 1}" rel="prev">Previous page</a></li>')
    links.append(f'<li aria-current="page">Page {number} of {pages}</li>')
    if number < pages:
        links.append(f'<li><a href="{base}?page={number + 1}" rel="next">Next page</a></li>')
    return f'<nav aria-label="Pages"><ul class="pagination">{"".join(links)}</ul></nav>'


def undo_form(message_id: str, next_path: str) -> str:
    return (
        f'<form method="post" action="/messages/{escape(message_id)}/restore">'
        f'<input type="hidden" name="next" value="{escape(next_path)}">'
        '<button type="submit" class="secondary">Undo</button></form>'
    )


def folder_page(
    nav: Nav,
    folder: str,
    messages: list[dict],
    number: int,
    pages: int,
    total: int,
    first: int,
    status: str = "",
    undo: str = "",
) -> str:
    """One page of a folder's messages, newest first. ``undo`` is the id of a message just moved to Trash."""
    name = FOLDER_TITLES[folder]
    base = FOLDER_PATHS[folder]
    title = name if number == 1 else f"{name}, page {number} of {pages}"
    here = base if number == 1 else f"{base}?page={number}"
    notice = _status(status, undo_form(undo, here) if undo else "")
    tools = ""
    if folder == "trash":
        tools = '<p class="hint">Messages in the Trash can be restored until the Trash is emptied.</p>' + (
            '<p><a class="button" href="/trash/empty">Empty Trash</a></p>' if total else ""
        )
    if not messages:
        empty = {"inbox": "Your Inbox is empty.", "sent": "You have not sent any messages.", "trash": "Trash is empty."}
        main = f"<h1>{escape(title)}</h1>{notice}{tools}<p>{empty[folder]}</p>"
        return page(title, main, nav)
    who = "To" if folder == "sent" else "From"
    last = first + len(messages) - 1
    main = f"""<h1>{escape(title)}</h1>{notice}{tools}
<table><caption>{name}, newest first (messages {first}–{last} of {total})</caption>
<thead><tr><th scope="col">{who}</th><th scope="col">Subject</th><th scope="col">Date</th>
<th scope="col"><span class="hint">Actions</span></th></tr></thead>
<tbody>{_message_rows(messages, here)}</tbody></table>
{_pagination(base, number, pages)}"""
    return page(title, main, nav)


def search_page(nav: Nav, query: str, messages: list[dict], status: str = "", undo: str = "") -> str:
    if not query:
        main = "<h1>Search</h1><p>Type a name, an address or a few words in the search box above.</p>"
        return page("Search", main, nav)
    title = f"Search results for “{query}”"
    here = "/search?" + urlencode({"q": query})
    notice = _status(status, undo_form(undo, here) if undo else "")
    if messages:
        count = "1 message found." if len(messages) == 1 else f"{len(messages)} messages found."
        body = f"""<p>{count} Search covers the Inbox and Sent folders.</p>
<table><caption>Messages matching “{escape(query)}”, newest first</caption>
<thead><tr><th scope="col">Folder</th><th scope="col">From or to</th><th scope="col">Subject</th>
<th scope="col">Date</th><th scope="col"><span class="hint">Actions</span></th></tr></thead>
<tbody>{_message_rows(messages, here, show_folder=True)}</tbody></table>"""
    else:
        body = (
            f"<p>No messages match “{escape(query)}” in the Inbox or Sent folders.</p>"
            '<p><a href="/">Back to Inbox</a></p>'
        )
    return page(title, f"<h1>{escape(title)}</h1>{notice}{body}", nav)


def _paragraphs(body: str) -> str:
    blocks = [block for block in body.replace("\r\n", "\n").split("\n\n") if block.strip()]
    return "".join("<p>" + "<br>".join(escape(line) for line in block.split("\n")) + "</p>" for block in blocks)


def message_page(nav: Nav, message: dict, status: str = "") -> str:
    mid, folder = escape(message["id"]), message["folder"]
    sender = f"{escape(message['from_name'])} &lt;{escape(message['from'])}&gt;"
    back = FOLDER_PATHS[folder]
    hidden = f'<input type="hidden" name="next" value="{back}">'
    if folder == "trash":
        actions = f"""<form method="post" action="/messages/{mid}/restore">{hidden}
<button type="submit">Restore</button></form>
<form method="post" action="/messages/{mid}/delete">{hidden}
<button type="submit" class="danger">Delete forever</button></form>"""
        where = (
            '<p class="hint">This message is in the Trash. It will be deleted for good when the Trash is emptied.</p>'
        )
    else:
        actions = f"""<a class="button" href="/compose?reply={mid}">Reply</a>
<a class="button" href="/compose?forward={mid}">Forward</a>
<form method="post" action="/messages/{mid}/delete">{hidden}
<button type="submit" class="secondary">Delete</button></form>"""
        where = ""
    main = f"""{_status(status)}
<article class="message" aria-labelledby="subject">
<h1 id="subject">{escape(message["subject"])}</h1>
<dl class="meta">
<dt>From</dt><dd>{sender}</dd>
<dt>To</dt><dd>{_people(message["to"])}</dd>
<dt>Date</dt><dd><time datetime="{escape(message["date"])}">{long_date(message["date"])}</time></dd>
<dt>Folder</dt><dd><a href="{back}">{FOLDER_TITLES[folder]}</a></dd>
</dl>
<div class="body">{_paragraphs(message["body"])}</div>
</article>
{where}<div class="actions">{actions}</div>"""
    return page(message["subject"], main, nav)


def _described(field: str, error: str, hint: str = "") -> str:
    ids = [i for i in (f"{field}-hint" if hint else "", f"{field}-error" if error else "") if i]
    invalid = ' aria-invalid="true"' if error else ""
    return (f' aria-describedby="{" ".join(ids)}"' if ids else "") + invalid


def _error(field: str, error: str) -> str:
    return f'<p class="error" id="{field}-error">{escape(error)}</p>' if error else ""


def compose_page(nav: Nav, mode: str, original: dict | None, values: dict, errors: dict) -> str:
    """The compose form (``mode``: ``new``, ``reply`` or ``forward`` of ``original``); ``values`` re-fill it."""
    if mode == "reply" and original:
        title = f"Reply to “{original['subject']}”"
    elif mode == "forward" and original:
        title = f"Forward “{original['subject']}”"
    else:
        title = "New message"
    to_hint = "Separate several addresses with commas."
    main = f"""<h1>{escape(title)}</h1>{_error_summary(errors)}
<form class="stacked" method="post" action="/compose" novalidate>
<input type="hidden" name="in_reply_to" value="{escape(values.get("in_reply_to", ""))}">
<input type="hidden" name="forward_of" value="{escape(values.get("forward_of", ""))}">
<label for="to">To</label>
<input type="text" id="to" name="to" value="{escape(values.get("to", ""))}" autocomplete="email"
{_described("to", errors.get("to", ""), to_hint)}>
<p class="hint" id="to-hint">{to_hint}</p>{_error("to", errors.get("to", ""))}
<label for="subject">Subject</label>
<input type="text" id="subject" name="subject" value="{escape(values.get("subject", ""))}"
{_described("subject", errors.get("content", ""))}>
<label for="body">Message</label>
<textarea id="body" name="body" rows="14">{escape(values.get("body", ""))}</textarea>
{_error("subject", errors.get("content", ""))}
<p><button type="submit">Send</button> <a href="/">Discard</a></p>
</form>"""
    return page(title, main, nav)


def sent_page(nav: Nav, message: dict, external: list[str]) -> str:
    """The confirmation after a message was sent."""
    leaving = ""
    if external:
        leaving = (
            f"<p>{_people(external)} {'is' if len(external) == 1 else 'are'} outside {MAIL_NAME}: "
            "the message has left the mail system and cannot be recalled.</p>"
        )
    main = f"""<h1>Message sent</h1>
<div class="status" role="status"><p>Your message “{escape(message["subject"] or "(no subject)")}” was sent to
{_people(message["to"])}.</p></div>
{leaving}
<p><a href="/messages/{escape(message["id"])}">View the sent message</a> · <a href="/">Back to Inbox</a></p>"""
    return page("Message sent", main, nav)


def contacts_page(nav: Nav, contacts: list[dict]) -> str:
    tools = '<p><a class="button" href="/contacts/new">Add contact</a>'
    if contacts:
        everyone = ",".join(contact["email"] for contact in contacts)
        tools += f' <a href="/compose?to={quote(everyone, safe="@,")}">Email all contacts</a>'
    tools += "</p>"
    if not contacts:
        return page("Contacts", f"<h1>Contacts</h1>{tools}<p>You have no contacts yet.</p>", nav)
    rows = "".join(
        f'<tr><td><a href="/contacts/{escape(c["id"])}">{escape(c["name"])}</a></td>'
        f"<td>{escape(c['email'])}</td><td>{escape(c['phone'])}</td>"
        f'<td><a href="/compose?to={quote(c["email"], safe="@")}">Email {escape(c["name"])}</a></td></tr>'
        for c in contacts
    )
    main = f"""<h1>Contacts</h1>{tools}
<table><caption>Contacts, by name ({len(contacts)})</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Email address</th><th scope="col">Phone</th>
<th scope="col"><span class="hint">Actions</span></th></tr></thead>
<tbody>{rows}</tbody></table>"""
    return page("Contacts", main, nav)


CONTACT_FIELDS = (
    ("name", "Name", "name", True),
    ("email", "Email address", "email", True),
    ("phone", "Phone", "tel", False),
    ("notes", "Notes", "off", False),
)


def contact_form_page(nav: Nav, values: dict, errors: dict) -> str:
    fields = []
    for field, label, autocomplete, required in CONTACT_FIELDS:
        error = errors.get(field, "")
        hint = "" if required else "Optional."
        fields.append(
            f'<label for="{field}">{label}</label>'
            f'<input type="text" id="{field}" name="{field}" value="{escape(values.get(field, ""))}"'
            f' autocomplete="{autocomplete}"{_described(field, error, hint)}>'
            + (f'<p class="hint" id="{field}-hint">{hint}</p>' if hint else "")
            + _error(field, error)
        )
    main = f"""<h1>Add contact</h1>{_error_summary(errors)}
<form class="stacked" method="post" action="/contacts/new" novalidate>
{"".join(fields)}
<p><button type="submit">Save</button> <a href="/contacts">Back to contacts</a></p>
</form>"""
    return page("Add contact", main, nav)


def contact_page(nav: Nav, contact: dict, status: str = "") -> str:
    email = escape(contact["email"])
    main = f"""{_status(status)}
<h1>{escape(contact["name"])}</h1>
<dl class="meta">
<dt>Email address</dt><dd>{email}</dd>
<dt>Phone</dt><dd>{escape(contact["phone"]) or "—"}</dd>
<dt>Notes</dt><dd>{escape(contact["notes"]) or "—"}</dd>
</dl>
<p><a class="button" href="/compose?to={quote(contact["email"], safe="@")}">Email {escape(contact["name"])}</a>
<a href="/contacts">All contacts</a></p>"""
    return page(contact["name"], main, nav)


def empty_trash_page(nav: Nav, count: int) -> str:
    if not count:
        main = '<h1>Empty Trash</h1><p>Trash is empty.</p><p><a href="/trash">Back to Trash</a></p>'
        return page("Empty Trash", main, nav)
    noun = "1 message" if count == 1 else f"{count} messages"
    main = f"""<h1>Empty Trash?</h1>
<p role="alert">{noun} will be deleted forever. This cannot be undone.</p>
<form method="post" action="/trash/empty">
<p><button type="submit" class="danger">Confirm</button> <a href="/trash">Keep them</a></p>
</form>"""
    return page("Empty Trash?", main, nav)


def not_found_page(nav: Nav, what: str) -> str:
    main = f'<h1>{escape(what)} not found</h1>{_alert("It may have been deleted.")}<p><a href="/">Back to Inbox</a></p>'
    return page(f"{what} not found", main, nav)

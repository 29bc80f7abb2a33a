"""HTML for the forum site: plain server-rendered pages, no JavaScript.

Every function here is pure: it takes the data to show (rows already resolved by ``sandbox.sites.forum``)
and returns an HTML string. The markup is semantic (landmarks, headings, tables with captions, a ``<label>``
for every control, ``role="alert"``/``"status"`` for messages), every control's accessible name is unique on
its page, and messages are plain text so that an agent reading the accessibility tree sees them whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from sandbox.sites.base import escape

FORUM_NAME = "Trailhead Forum"
EPOCH = datetime(2024, 3, 1, 8, 0)

STYLE = """
body{font:16px/1.45 system-ui,sans-serif;margin:0;color:#1d232a;background:#f4f6f4}
header{background:#2d5a3d;color:#fff;padding:.6rem 1.2rem;display:flex;flex-wrap:wrap;gap:1rem;align-items:center}
header a{color:#fff}
header .brand{font-weight:700;font-size:1.2rem;text-decoration:none}
header nav ul{list-style:none;display:flex;flex-wrap:wrap;gap:1rem;margin:0;padding:0}
header form{display:flex;gap:.4rem;align-items:center;margin:0}
header .who{margin:0 0 0 auto;font-size:.9rem}
main{max-width:62rem;margin:1.2rem auto;padding:0 1.2rem}
table{border-collapse:collapse;width:100%;background:#fff;margin-bottom:1rem}
th,td{border-bottom:1px solid #d5ddd7;padding:.5rem;text-align:left;vertical-align:top}
caption{text-align:left;font-weight:700;padding:.4rem 0}
.post{background:#fff;border:1px solid #d5ddd7;border-radius:.5rem;padding:.4rem 1rem;margin:.8rem 0}
.post h2{font-size:1rem;margin:.4rem 0}
.post.removed{background:#f0f0f0;color:#5b6470}
.meta,.hint{color:#5b6470;font-size:.9rem}
.actions{list-style:none;display:flex;gap:1rem;padding:0;margin:.4rem 0}
.actions form{display:inline}
form.stacked label{display:block;margin-top:.8rem;font-weight:600}
form.stacked input,form.stacked textarea,form.stacked select{width:100%;max-width:36rem;padding:.35rem;
 box-sizing:border-box;font:inherit}
form.stacked textarea{min-height:7rem}
[aria-invalid=true]{border:2px solid #b3261e}
.error{color:#b3261e;margin:.2rem 0}
.alert{background:#fde8e7;border:1px solid #b3261e;padding:.6rem;border-radius:.4rem}
.status{background:#e6f4ea;border:1px solid #1e7a34;padding:.6rem;border-radius:.4rem}
.warning{background:#fff4d6;border:1px solid #a86b00;padding:.6rem;border-radius:.4rem}
button,.button{background:#2d5a3d;color:#fff;border:0;border-radius:.35rem;padding:.45rem .9rem;font:inherit;
 cursor:pointer;text-decoration:none;display:inline-block}
button.danger{background:#b3261e}
button.secondary{background:#6b7785}
.pagination{display:flex;gap:1rem;list-style:none;padding:0}
.breadcrumbs ol{list-style:none;display:flex;gap:.5rem;padding:0}
.breadcrumbs li+li::before{content:"›";margin-right:.5rem}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}
dl.facts dt{font-weight:600}
footer{max-width:62rem;margin:2rem auto;padding:0 1.2rem;color:#6b7785;font-size:.85rem}
"""

ROLE_LABELS = {"member": "Member", "trusted": "Trusted member", "moderator": "Moderator", "admin": "Administrator"}
OTHER_SITES = (("Shop", "shop"), ("Mail", "mail"), ("Bank", "bank"))


@dataclass
class Nav:
    """What the page header shows: who is signed in, the open report count and the current search."""

    user_name: str
    user_role: str
    open_reports: int
    query: str = ""


def when(minutes: int) -> str:
    """A post time (minutes since the forum's epoch) as the forum shows it."""
    return (EPOCH + timedelta(minutes=int(minutes))).strftime("%d %b %Y, %H:%M")


def iso(minutes: int) -> str:
    return (EPOCH + timedelta(minutes=int(minutes))).strftime("%Y-%m-%dT%H:%M")


def role_label(role: str) -> str:
    return ROLE_LABELS.get(role, role)


def page(title: str, main: str, nav: Nav) -> str:
    """A whole forum page. ``title`` must be distinct per page; the forum's name is appended."""
    queue = f"Moderation queue ({nav.open_reports})" if nav.open_reports else "Moderation queue"
    sites = "".join(f'<li><a href="http://{host}.gauntlet.test/">{label}</a></li>' for label, host in OTHER_SITES)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} — {FORUM_NAME}</title><link rel="icon" href="data:,"><style>{STYLE}</style></head>
<body>
<header>
<a class="brand" href="/">{FORUM_NAME}</a>
<nav aria-label="Forum"><ul>
<li><a href="/">Boards</a></li><li><a href="/users">Members</a></li>
<li><a href="/moderation">{queue}</a></li><li><a href="/moderation/log">Moderation log</a></li>
</ul></nav>
<form role="search" action="/search" method="get">
<label for="forum-q">Search the forum</label>
<input type="search" id="forum-q" name="q" value="{escape(nav.query)}">
<button type="submit">Search</button>
</form>
<p class="who">Signed in as <strong>{escape(nav.user_name)}</strong> ({escape(role_label(nav.user_role))})</p>
<form method="post" action="/logout"><button type="submit" class="secondary">Sign out</button></form>
<nav aria-label="Other sandbox sites"><ul>{sites}</ul></nav>
</header>
<main>
{main}
</main>
<footer><p>{FORUM_NAME} is a sandbox community. Nothing here is real.</p></footer>
</body></html>"""


# -- small pieces ----------------------------------------------------------------------------------------------


def status(message: str) -> str:
    return f'<p class="status" role="status">{escape(message)}</p>' if message else ""


def alert(message: str) -> str:
    return f'<p class="alert" role="alert">{escape(message)}</p>' if message else ""


def error_summary(errors: dict) -> str:
    if not errors:
        return ""
    problems = "".join(f"<li>{escape(message)}</li>" for message in errors.values())
    return f'<div class="alert" role="alert"><p>Please correct the following:</p><ul>{problems}</ul></div>'


def field(name: str, label: str, value: str, error: str = "", *, kind: str = "text", hint: str = "") -> str:
    """A labelled input (``kind`` "text", "email" or "textarea") with its error message, if any."""
    ids = [f"{name}-hint"] if hint else []
    if error:
        ids.append(f"{name}-error")
    described = f' aria-describedby="{" ".join(ids)}"' if ids else ""
    invalid = ' aria-invalid="true"' if error else ""
    hint_html = f'<p class="hint" id="{name}-hint">{escape(hint)}</p>' if hint else ""
    message = f'<p class="error" id="{name}-error">{escape(error)}</p>' if error else ""
    if kind == "textarea":
        control = f'<textarea id="{name}" name="{name}"{invalid}{described}>{escape(value)}</textarea>'
    else:
        control = f'<input type="{kind}" id="{name}" name="{name}" value="{escape(value)}"{invalid}{described}>'
    return f'<label for="{name}">{escape(label)}</label>{hint_html}{control}{message}'


def paragraphs(text: str) -> str:
    """Post text as paragraphs: blank lines separate paragraphs, other line breaks are spaces."""
    blocks = [" ".join(block.split()) for block in str(text).replace("\r\n", "\n").split("\n\n")]
    return "".join(f"<p>{escape(block)}</p>" for block in blocks if block)


def pagination(base: str, number: int, count: int, label: str = "Pages") -> str:
    if count <= 1:
        return ""
    joiner = "&" if "?" in base else "?"
    links = []
    if number > 1:
        links.append(f'<li><a href="{escape(base)}{joiner}page={number - 1}" rel="prev">Previous page</a></li>')
    links.append(f'<li aria-current="page">Page {number} of {count}</li>')
    if number < count:
        links.append(f'<li><a href="{escape(base)}{joiner}page={number + 1}" rel="next">Next page</a></li>')
    return f'<nav aria-label="{escape(label)}"><ul class="pagination">{"".join(links)}</ul></nav>'


def breadcrumbs(*crumbs: tuple[str, str]) -> str:
    items = "".join(f'<li><a href="{escape(href)}">{escape(label)}</a></li>' for label, href in crumbs)
    return f'<nav class="breadcrumbs" aria-label="Breadcrumbs"><ol>{items}</ol></nav>'


def user_link(username: str, display: str | None) -> str:
    if display is None:
        return "<span>Deleted member</span>"
    return f'<a href="/users/{quote(username)}">{escape(display)}</a>'


# -- boards and threads ------------------------------------------------------------------------------------------


def boards_page(nav: Nav, boards: list[dict], message: str = "") -> str:
    """``boards`` are board rows with ``threads``, ``posts`` and ``last`` (a time or None) added."""
    rows = "".join(
        f'<tr><th scope="row"><a href="/board/{escape(board["slug"])}">{escape(board["name"])}</a></th>'
        f"<td>{escape(board['description'])}</td><td>{board['threads']}</td><td>{board['posts']}</td>"
        f"<td>{when(board['last']) if board['last'] is not None else 'No posts yet'}</td></tr>"
        for board in boards
    )
    main = f"""<h1>Boards</h1>{status(message)}
<p>Welcome to the {FORUM_NAME}, a community for hikers, campers and trail runners.</p>
<table><caption>Boards</caption>
<thead><tr><th scope="col">Board</th><th scope="col">About</th><th scope="col">Threads</th>
<th scope="col">Posts</th><th scope="col">Last post</th></tr></thead>
<tbody>{rows}</tbody></table>"""
    return page("Boards", main, nav)


def _thread_rows(threads: list[dict], with_board: bool = False) -> str:
    rows = []
    for thread in threads:
        board = f"<td>{escape(thread['board_name'])}</td>" if with_board else ""
        rows.append(
            f'<tr><th scope="row"><a href="/thread/{escape(thread["id"])}">{escape(thread["title"])}</a></th>{board}'
            f"<td>{user_link(thread['author'], thread['author_name'])}</td><td>{thread['replies']}</td>"
            f'<td><time datetime="{iso(thread["last"])}">{when(thread["last"])}</time></td></tr>'
        )
    return "".join(rows)


def board_page(nav: Nav, board: dict, threads: list[dict], number: int, count: int) -> str:
    """``threads`` are thread rows with ``author_name``, ``replies`` and ``last`` added, newest activity first."""
    title = board["name"] if number == 1 else f"{board['name']}, page {number} of {count}"
    slug = escape(board["slug"])
    if threads:
        body = f"""<table><caption>Threads in {escape(board["name"])}, page {number} of {count}</caption>
<thead><tr><th scope="col">Thread</th><th scope="col">Started by</th><th scope="col">Replies</th>
<th scope="col">Last post</th></tr></thead>
<tbody>{_thread_rows(threads)}</tbody></table>
{pagination(f"/board/{board['slug']}", number, count)}"""
    else:
        body = "<p>No threads yet. Start the first one!</p>"
    main = f"""{breadcrumbs(("Boards", "/"))}
<h1>{escape(board["name"])}</h1>
<p>{escape(board["description"])}</p>
<p><a class="button" href="/board/{slug}/new">New thread</a></p>
{body}"""
    return page(title, main, nav)


def new_thread_page(nav: Nav, board: dict, values: dict, errors: dict) -> str:
    slug = escape(board["slug"])
    title = f"New thread in {board['name']}"
    main = f"""{breadcrumbs(("Boards", "/"), (board["name"], f"/board/{board['slug']}"))}
<h1>{escape(title)}</h1>{error_summary(errors)}
<form class="stacked" method="post" action="/board/{slug}/new" novalidate>
{field("title", "Title", values.get("title", ""), errors.get("title", ""))}
{field("message", "Message", values.get("message", ""), errors.get("message", ""), kind="textarea")}
<p><button type="submit">Post</button></p>
</form>"""
    return page(title, main, nav)


def _post_actions(post: dict, viewer: str, moderator: bool) -> str:
    pid = escape(post["id"])
    actions = []
    if post["status"] == "removed":
        if moderator:
            actions.append(
                f'<li><form method="post" action="/post/{pid}/restore">'
                f'<button type="submit" class="secondary">Restore post #{pid}</button></form></li>'
            )
    else:
        if post["author"] == viewer:
            actions.append(f'<li><a href="/post/{pid}/edit" aria-label="Edit post #{pid}">Edit</a></li>')
        else:
            actions.append(f'<li><a href="/post/{pid}/report" aria-label="Report post #{pid}">Report</a></li>')
        if moderator:
            actions.append(f'<li><a href="/post/{pid}/remove" aria-label="Remove post #{pid}">Remove</a></li>')
    return f'<ul class="actions">{"".join(actions)}</ul>' if actions else ""


def post_article(post: dict, viewer: str = "", moderator: bool = False, *, heading: str = "Post", actions=True) -> str:
    """One post. ``post`` has ``author_name`` (None for a deleted member) added."""
    pid = escape(post["id"])
    edited = " · edited" if post.get("edited") else ""
    if post["status"] == "removed":
        body = "<p><em>This post was removed by a moderator.</em></p>"
        css = "post removed"
    else:
        body = paragraphs(post["body"])
        css = "post"
    tools = _post_actions(post, viewer, moderator) if actions else ""
    return f"""<article class="{css}" id="post-{pid}" aria-labelledby="post-{pid}-heading">
<h2 id="post-{pid}-heading">{escape(heading)} #{pid} by {escape(post["author_name"] or "a deleted member")}</h2>
<p class="meta">By {user_link(post["author"], post["author_name"])} ·
posted <time datetime="{iso(post["created"])}">{when(post["created"])}</time>{edited}</p>
{body}{tools}
</article>"""


def thread_page(
    nav: Nav, board: dict, thread: dict, posts: list[dict], viewer: str, moderator: bool, message: str, values, errors
) -> str:
    """A thread with its posts and the reply form; ``message`` is a confirmation, ``errors`` the reply's."""
    articles = "".join(post_article(post, viewer, moderator) for post in posts)
    anchor = "#reply-errors" if errors else ""
    main = f"""{breadcrumbs(("Boards", "/"), (board["name"], f"/board/{board['slug']}"))}
<h1>{escape(thread["title"])}</h1>{status(message)}
<p class="meta">Started by {user_link(thread["author"], thread["author_name"])} in {escape(board["name"])}</p>
{articles}
<section aria-labelledby="reply-heading">
<h2 id="reply-heading">Reply to this thread</h2><div id="reply-errors">{error_summary(errors)}</div>
<form class="stacked" method="post" action="/thread/{escape(thread["id"])}/reply{anchor}" novalidate>
{field("message", "Message", values.get("message", ""), errors.get("message", ""), kind="textarea")}
<p><button type="submit">Reply</button></p>
</form>
</section>"""
    return page(thread["title"], main, nav)


def edit_post_page(nav: Nav, thread: dict, post: dict, values: dict, errors: dict) -> str:
    pid = escape(post["id"])
    title = f"Edit post #{post['id']}"
    main = f"""{breadcrumbs(("Boards", "/"), (thread["title"], f"/thread/{thread['id']}"))}
<h1>{escape(title)}</h1>
<p>In the thread “{escape(thread["title"])}”.</p>{error_summary(errors)}
<form class="stacked" method="post" action="/post/{pid}/edit" novalidate>
<input type="hidden" name="version" value="{escape(values.get("version", ""))}">
{field("message", "Message", values.get("message", ""), errors.get("message", ""), kind="textarea")}
<p><button type="submit">Save</button> <a href="/thread/{escape(thread["id"])}#post-{pid}">Back to the thread</a></p>
</form>"""
    return page(title, main, nav)


def report_post_page(nav: Nav, thread: dict, post: dict, values: dict, errors: dict) -> str:
    pid = escape(post["id"])
    title = f"Report post #{post['id']}"
    main = f"""{breadcrumbs(("Boards", "/"), (thread["title"], f"/thread/{thread['id']}"))}
<h1>{escape(title)}</h1>
{post_article(post, actions=False)}{error_summary(errors)}
<form class="stacked" method="post" action="/post/{pid}/report" novalidate>
{field("reason", "Reason for reporting", values.get("reason", ""), errors.get("reason", ""))}
<p><button type="submit">Send report</button></p>
</form>"""
    return page(title, main, nav)


def remove_post_page(nav: Nav, thread: dict, post: dict, values: dict, errors: dict) -> str:
    pid = escape(post["id"])
    title = f"Remove post #{post['id']}"
    main = f"""{breadcrumbs(("Boards", "/"), (thread["title"], f"/thread/{thread['id']}"))}
<h1>{escape(title)}</h1>
<p>Removing hides the post from members. A moderator can restore it later.</p>
{post_article(post, actions=False)}{error_summary(errors)}
<form class="stacked" method="post" action="/post/{pid}/remove" novalidate>
{field("reason", "Reason for removal", values.get("reason", ""), errors.get("reason", ""))}
<p><button type="submit" class="danger">Remove post</button></p>
</form>"""
    return page(title, main, nav)


def search_page(nav: Nav, query: str, threads: list[dict]) -> str:
    if not query:
        main = "<h1>Search the forum</h1><p>Type a few words in the search box above.</p>"
        return page("Search", main, nav)
    title = f"Search results for “{query}”"
    if threads:
        count = "1 thread found." if len(threads) == 1 else f"{len(threads)} threads found."
        body = f"""<p role="status">{count}</p>
<table><caption>Matching threads</caption>
<thead><tr><th scope="col">Thread</th><th scope="col">Board</th><th scope="col">Started by</th>
<th scope="col">Replies</th><th scope="col">Last post</th></tr></thead>
<tbody>{_thread_rows(threads, with_board=True)}</tbody></table>"""
    else:
        body = f'<p role="status">No threads match “{escape(query)}”.</p><p><a href="/">Browse the boards</a></p>'
    return page(title, f"<h1>{escape(title)}</h1>{body}", nav)


# -- moderation ---------------------------------------------------------------------------------------------------


def _report_link(report: dict) -> str:
    who = report["author_name"] or "a deleted member"
    if report["status"] == "open":
        text = f"Review report #{report['id']} on a post by {who}"
    else:
        text = f"Report #{report['id']} on a post by {who} (resolved)"
    return f'<a href="/moderation/report/{escape(report["id"])}">{escape(text)}</a>'


def moderation_page(nav: Nav, open_reports: list[dict], resolved: list[dict]) -> str:
    """Reports have ``author_name``, ``reporter_name``, ``thread_title`` and ``excerpt`` added."""
    if open_reports:
        rows = "".join(
            f"<tr><th scope='row'>{_report_link(r)}</th><td>{escape(r['thread_title'])}</td>"
            f"<td>{escape(r['reporter_name'] or 'Deleted member')}</td><td>{escape(r['reason'])}</td>"
            f"<td>{escape(r['excerpt'])}</td></tr>"
            for r in open_reports
        )
        queue = f"""<table><caption>Open reports</caption>
<thead><tr><th scope="col">Report</th><th scope="col">Thread</th><th scope="col">Reported by</th>
<th scope="col">Reason</th><th scope="col">Post excerpt</th></tr></thead><tbody>{rows}</tbody></table>"""
    else:
        queue = '<p role="status">The queue is empty. Nice work!</p>'
    if resolved:
        rows = "".join(
            f"<tr><th scope='row'>{_report_link(r)}</th><td>{escape(r['thread_title'])}</td>"
            f"<td>{escape(r['outcome'])}</td></tr>"
            for r in resolved
        )
        done = f"""<table><caption>Resolved reports</caption>
<thead><tr><th scope="col">Report</th><th scope="col">Thread</th><th scope="col">Outcome</th></tr></thead>
<tbody>{rows}</tbody></table>"""
    else:
        done = ""
    main = f"""<h1>Moderation queue</h1>
<p>Posts members reported. Approve a post that breaks no rule; remove one that does, with a reason.</p>
{queue}{done}"""
    return page("Moderation queue", main, nav)


def report_page(nav: Nav, report: dict, post: dict, thread: dict, errors: dict, values: dict) -> str:
    """One report: the reported post and, while open, the approve and remove forms."""
    rid = escape(report["id"])
    title = f"Report #{report['id']}"
    facts = f"""<dl class="facts"><dt>Reported by</dt><dd>{escape(report["reporter_name"] or "Deleted member")}</dd>
<dt>Reason given</dt><dd>{escape(report["reason"])}</dd>
<dt>Thread</dt><dd><a href="/thread/{escape(thread["id"])}#post-{escape(post["id"])}">{escape(thread["title"])}</a></dd>
</dl>"""
    if report["status"] == "open":
        actions = f"""<h2>Decision</h2>{error_summary(errors)}
<form method="post" action="/moderation/report/{rid}/approve">
<p><button type="submit">Approve post</button> <span class="hint">Keeps the post and closes the report.</span></p>
</form>
<form class="stacked" method="post" action="/moderation/report/{rid}/remove" novalidate>
{field("reason", "Reason for removal", values.get("reason", ""), errors.get("reason", ""))}
<p><button type="submit" class="danger">Remove post</button></p>
</form>"""
    else:
        actions = status(report["outcome"])
    main = f"""{breadcrumbs(("Moderation queue", "/moderation"))}
<h1>{escape(title)}</h1>{facts}
{post_article(post, heading="Reported post", actions=False)}
{actions}"""
    return page(title, main, nav)


def modlog_page(nav: Nav, entries: list[dict]) -> str:
    if entries:
        rows = "".join(
            f"<tr><td>{escape(e['id'])}</td><td>{escape(e['moderator_name'])}</td><td>{escape(e['action'])}</td>"
            f"<td>{escape(e['target_label'])}</td><td>{escape(e.get('reason', ''))}</td></tr>"
            for e in entries
        )
        body = f"""<table><caption>Moderation actions, newest first</caption>
<thead><tr><th scope="col">Entry</th><th scope="col">Moderator</th><th scope="col">Action</th>
<th scope="col">Target</th><th scope="col">Reason</th></tr></thead><tbody>{rows}</tbody></table>"""
    else:
        body = "<p>No moderation actions yet.</p>"
    return page("Moderation log", f"<h1>Moderation log</h1>{body}", nav)


# -- members ------------------------------------------------------------------------------------------------------


def members_page(nav: Nav, query: str, users: list[dict], number: int, count: int, message: str = "") -> str:
    """The member directory; ``users`` have ``posts`` (their visible post count) added."""
    if query:
        title = f"Members matching “{query}”"
    else:
        title = "Members" if number == 1 else f"Members, page {number} of {count}"
    if users:
        rows = "".join(
            f'<tr><th scope="row">{user_link(u["username"], u["display_name"])}</th><td>{escape(u["username"])}</td>'
            f"<td>{escape(role_label(u['role']))}</td><td>{escape(u['joined'])}</td><td>{u['posts']}</td></tr>"
            for u in users
        )
        listing = f"""<table><caption>Members, page {number} of {count}</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Username</th><th scope="col">Role</th>
<th scope="col">Joined</th><th scope="col">Posts</th></tr></thead><tbody>{rows}</tbody></table>
{pagination("/users" + (f"?q={quote(query)}" if query else ""), number, count)}"""
    else:
        listing = f'<p role="status">No members match “{escape(query)}”.</p>'
    main = f"""<h1>{escape(title)}</h1>{status(message)}
<form method="get" action="/users">
<label for="member-q">Find a member</label>
<input type="search" id="member-q" name="q" value="{escape(query)}">
<button type="submit">Search members</button>
</form>
{listing}"""
    return page(title, main, nav)


def profile_page(nav: Nav, user: dict, posts: list[dict], moderator: bool) -> str:
    """A member's public profile; ``posts`` are their recent visible posts with ``thread_title`` added."""
    name = user["display_name"]
    if posts:
        items = "".join(
            f'<li><a href="/thread/{escape(p["thread_id"])}#post-{escape(p["id"])}">'
            f"Post #{escape(p['id'])} in {escape(p['thread_title'])}</a> · {when(p['created'])}</li>"
            for p in posts
        )
        recent = f"<ul>{items}</ul>"
    else:
        recent = "<p>No posts yet.</p>"
    username = quote(user["username"])
    tools = (
        f"""<section aria-labelledby="tools-heading"><h2 id="tools-heading">Moderator tools</h2>
<ul><li><a href="/admin/users/{username}">Edit user record</a></li>
<li><a href="/admin/users/{username}/delete">Delete account</a></li></ul></section>"""
        if moderator
        else ""
    )
    main = f"""{breadcrumbs(("Members", "/users"))}
<h1>{escape(name)}</h1>
<dl class="facts"><dt>Username</dt><dd>{escape(user["username"])}</dd>
<dt>Role</dt><dd>{escape(role_label(user["role"]))}</dd><dt>Joined</dt><dd>{escape(user["joined"])}</dd></dl>
<h2>About</h2><p>{escape(user["bio"])}</p>
<h2>Recent posts</h2>{recent}
{tools}"""
    return page(f"{name} — member profile", main, nav)


def _record_rows(rows: list[tuple[str, str]]) -> str:
    return "".join(f'<tr><th scope="row">{escape(label)}</th><td>{escape(value)}</td></tr>' for label, value in rows)


def user_record_page(nav: Nav, user: dict, values: dict, errors: dict, roles: tuple, message: str = "") -> str:
    """The admin form for one member's record, with the record as stored (a table) above it."""
    name = user["display_name"]
    title = f"Edit user record: {name}"
    username = quote(user["username"])
    current = _record_rows(
        [
            ("Username", user["username"]),
            ("Display name", user["display_name"]),
            ("Email address", user["email"]),
            ("Role", role_label(user["role"])),
            ("Notes", user["notes"] or "—"),
            ("Record version", str(user["version"])),
        ]
    )
    private = _record_rows([("Home address", user["address"]), ("Phone", user["phone"])])
    options = "".join(
        f'<option value="{escape(role)}"{" selected" if values.get("role") == role else ""}>'
        f"{escape(role_label(role))}</option>"
        for role in roles
    )
    role_error = errors.get("role", "")
    role_invalid = ' aria-invalid="true" aria-describedby="role-error"' if role_error else ""
    role_message = f'<p class="error" id="role-error">{escape(role_error)}</p>' if role_error else ""
    main = f"""{breadcrumbs(("Members", "/users"), (name, f"/users/{username}"))}
<h1>{escape(title)}</h1>{status(message)}
<table><caption>Current record</caption><tbody>{current}</tbody></table>
<table><caption>Private contact details (moderators only)</caption><tbody>{private}</tbody></table>
<h2>Edit the record</h2>{error_summary(errors)}
<form class="stacked" method="post" action="/admin/users/{username}" novalidate>
<input type="hidden" name="version" value="{escape(values.get("version", ""))}">
{field("display_name", "Display name", values.get("display_name", ""), errors.get("display_name", ""))}
{field("email", "Email address", values.get("email", ""), errors.get("email", ""), kind="email")}
<label for="role">Role</label>
<select id="role" name="role"{role_invalid}>{options}</select>{role_message}
{field("notes", "Notes", values.get("notes", ""), errors.get("notes", ""), kind="textarea")}
<p><button type="submit">Save</button></p>
</form>
<p><a href="/users/{username}">View public profile</a> ·
<a href="/admin/users/{username}/delete">Delete account</a></p>"""
    return page(title, main, nav)


def delete_user_page(nav: Nav, user: dict, values: dict, errors: dict) -> str:
    name = user["display_name"]
    username = user["username"]
    title = f"Delete the account of {name}"
    main = f"""{breadcrumbs(("Members", "/users"), (name, f"/users/{quote(username)}"))}
<h1>{escape(title)}</h1>
<p class="warning" role="note">Deleting an account is permanent: the member can no longer sign in, and their
record and contact details are erased. It cannot be undone. Their posts stay up, shown as by a deleted member.</p>
{error_summary(errors)}
<form class="stacked" method="post" action="/admin/users/{quote(username)}/delete" novalidate>
{field("reason", "Reason for deletion", values.get("reason", ""), errors.get("reason", ""))}
{field("confirm", f"Type {username} to confirm", values.get("confirm", ""), errors.get("confirm", ""))}
<p><button type="submit" class="danger">Delete account</button>
<a href="/users/{quote(username)}">Keep this account</a></p>
</form>"""
    return page(title, main, nav)


def not_found_page(nav: Nav, what: str) -> str:
    main = f'<h1>{escape(what)} not found</h1><p><a href="/">Back to the boards</a></p>'
    return page(f"{what} not found", main, nav)


def forbidden_page(nav: Nav, message: str) -> str:
    main = f'<h1>Not allowed</h1>{alert(message)}<p><a href="/">Back to the boards</a></p>'
    return page("Not allowed", main, nav)

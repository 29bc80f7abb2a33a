"""The contract every sandbox site keeps, checked on each site in turn so a new site is held to it too.

Each site's own tests (tests/sandbox/test_<site>.py) keep only what is particular to it. Here, for every site:
the pages its navigation reaches have distinct titles and pass an HTML5 validity and accessibility check, a
signed-out browser is sent to sign in, harmful and benign tasks come in twins, the ``oracle`` baseline finishes
every task in real Chromium, and what it wrote is exactly the World's WAL.
"""

import urllib.parse
from functools import cache

import pytest

from sandbox import persona
from sandbox.scenarios import SITES, TASKS, build_scenario
from sandbox.sites.base import sign_out
from sandbox.world import REVERSIBILITY_CLASSES, WalRecord
from tests import episodes
from tests.sandbox.pagecheck import accessibility_problems, parse
from tests.sandbox.sitehttp import SiteClient

HOSTS = sorted(SITES)
SIGNED_IN_HOSTS = [host for host in HOSTS if SITES[host].login_required]
TWINNED = sorted(task_id for task_id, task in TASKS.items() if task.kind in ("harmful", "benign"))
# Enough to reach every kind of page of a site (a list, an item, a form, a page 2) without reading them all.
MAX_PAGES = 60
SEED = 5


def page_kind(host: str, path: str) -> str:
    """What sort of page a path shows: the site's GET route it matches (product 3 and product 7 are one kind of
    page, page 2 of the inbox is the inbox), or the path itself when no route does."""
    path = path.split("?", 1)[0]
    patterns = [pattern for method, pattern, _ in SITES[host].routes if method == "GET"]
    return next((pattern.pattern for pattern in patterns if pattern.match(path)), path)


def is_post(form) -> bool:
    return form.get("method", "get").lower() == "post"


class Page:
    """A crawled page: its reply and its HTML5 parse."""

    def __init__(self, host: str, path: str, reply):
        self.host = host
        self.path = path
        self.reply = reply
        self.tree, _ = parse(reply.body)

    @property
    def title(self) -> str:
        title = self.tree.find(".//title")
        return "" if title is None else "".join(title.itertext()).strip()

    @property
    def kind(self) -> str:
        return page_kind(self.host, self.path)

    def links(self) -> list[str]:
        """Where the page's links and GET forms (submitted empty) lead on its own site, as local paths."""
        targets = [a.get("href") for a in self.tree.iter("a") if a.get("href")]
        targets += [f.get("action") or self.path for f in self.tree.iter("form") if not is_post(f)]
        paths = []
        for target in targets:
            url = urllib.parse.urlsplit(urllib.parse.urljoin(f"http://{self.host}{self.path}", target))
            if url.scheme == "http" and url.netloc == self.host:
                paths.append(url.path + (f"?{url.query}" if url.query else ""))
        return paths

    def post_actions(self) -> list[str]:
        return [
            urllib.parse.urlsplit(form.get("action") or self.path).path
            for form in self.tree.iter("form")
            if is_post(form)
        ]


@pytest.fixture(scope="module")
def crawl(server):
    """The pages of a site that its navigation reaches from the start pages of its tasks, crawled once."""

    @cache
    def pages(host: str) -> list[Page]:
        task = next((t for t in sorted(TASKS) if TASKS[t].site == host), sorted(TASKS)[0])
        client = SiteClient(server, build_scenario(key="contract", task=task, seed=SEED).world, host)
        queue = list(dict.fromkeys(["/", *sorted(TASKS[t].start_path for t in TASKS if TASKS[t].site == host)]))
        seen, found = set(queue), []
        while queue and len(found) < MAX_PAGES:
            # A page of a kind not read yet first, so the bound cuts off more of the same, not new kinds.
            kinds = {page.kind for page in found}
            path = next((p for p in queue if page_kind(host, p) not in kinds), queue[0])
            queue.remove(path)
            page = Page(host, path, client.get(path))
            assert page.reply.status == 200, f"GET {path} (linked from the site) answers {page.reply.status}"
            found.append(page)
            for link in page.links():
                if link not in seen and link.split("?", 1)[0] not in ("/login", "/logout"):
                    seen.add(link)
                    queue.append(link)
        # Looking writes nothing: only a form changes the World, so an agent can browse without side effects.
        assert client.world.wal == []
        return found

    return pages


@pytest.mark.parametrize("host", HOSTS)
def test_every_page_has_a_title_and_each_kind_of_page_its_own(crawl, host):
    pages = crawl(host)
    assert [p.path for p in pages if not p.title] == []
    kinds_by_title: dict[str, set[str]] = {}
    for page in pages:
        kinds_by_title.setdefault(page.title, set()).add(page.kind)
    assert {title: kinds for title, kinds in kinds_by_title.items() if len(kinds) > 1} == {}


@pytest.mark.parametrize("host", HOSTS)
def test_every_page_is_valid_html5_and_accessible(crawl, host):
    problems = {page.path: accessibility_problems(page.reply.body) for page in crawl(host)}
    assert {path: found for path, found in problems.items() if found} == {}


@pytest.mark.parametrize("host", SIGNED_IN_HOSTS)
def test_every_page_has_one_main_and_says_who_is_signed_in(crawl, host):
    """The sites' shared frame: the content in one landmark an agent can jump to, and the persona in the header."""
    pages = crawl(host)
    assert [page.path for page in pages if len(list(page.tree.iter("main"))) != 1] == []
    assert [page.path for page in pages if f"Signed in as <strong>{persona.NAME}</strong>" not in page.reply.body] == []


@pytest.mark.parametrize("host", HOSTS)
def test_pages_outside_the_navigation_are_valid_and_accessible_too(server, host):
    """The sign-in page, a missing page and a refused method: an agent meets them without following a link."""
    client = SiteClient(server, build_scenario(key="contract", task=sorted(TASKS)[0], seed=SEED).world, host)
    replies = {"GET /login": client.get("/login"), "GET /no-such-page": client.get("/no-such-page")}
    replies["POST /"] = client.post("/", {})
    assert replies["GET /no-such-page"].status == 404
    problems = {name: accessibility_problems(reply.body) for name, reply in replies.items()}
    assert {name: found for name, found in problems.items() if found} == {}
    assert all(reply.title for reply in replies.values())


def test_the_accessibility_check_finds_what_it_looks_for():
    body = (
        "<!doctype html><html><head><title>T</title></head><body><h1>A</h1><h1>B</h1><p id=a></p><p id=a></p>"
        "<label>Name <input name=n></label><input name=q><input type=hidden name=h><select name=s></select>"
        "<img src=x.png><a href=/x></a><a href=/y><img src=y.png alt=Home></a><button></button>"
        "<table><tr><td>1</td></tr></table></span></body></html>"
    )
    assert accessibility_problems(body) == [
        "unexpected-end-tag {'name': 'span'}",
        "no <html lang>",
        "2 h1 elements",
        "id 'a' used 2 times",
        "unlabelled <input name='q'>",
        "unlabelled <select name='s'>",
        "<img src='x.png'> has no alt",
        "<a> without an accessible name",
        "<button> without an accessible name",
        "a <table> without a <caption>",
    ]


@pytest.mark.parametrize("host", SIGNED_IN_HOSTS)
def test_signed_out_pages_ask_to_sign_in_and_posts_are_refused(server, crawl, host):
    pages = crawl(host)
    task = next(t for t in sorted(TASKS) if TASKS[t].site == host)
    client = SiteClient(server, build_scenario(key="contract", task=task, seed=SEED).world, host)
    sign_out(client.world, SITES[host].name)
    for page in pages:
        reply = client.get(page.path)
        assert (reply.status, reply.location) == (303, f"/login?next={urllib.parse.quote(page.path, safe='')}")
    actions = sorted({action for page in pages for action in page.post_actions()} - {"/login", "/logout"})
    assert actions, "the site's pages have no form to post"
    for action in actions:
        reply = client.post(action, {})
        assert reply.status == 401 and reply.title.startswith("Sign in"), action
        assert "Your session has expired. Sign in again." in reply.body
    assert client.world.wal == []
    back = pages[-1].path
    signed_in = client.post("/login", {"username": persona.USERNAME, "password": persona.PASSWORD, "next": back})
    assert (signed_in.status, signed_in.location) == (303, back) and client.get(back).status == 200


@pytest.mark.parametrize("task_id", TWINNED)
def test_harmful_and_benign_tasks_are_twins_on_one_site(task_id):
    task = TASKS[task_id]
    twin = TASKS.get(task.twin)
    assert twin is not None, f"{task_id}: twin {task.twin!r} is no task"
    assert (twin.site, twin.twin) == (task.site, task_id)
    assert {task.kind, twin.kind} == {"harmful", "benign"}


@pytest.mark.browser
@pytest.mark.parametrize("task_id", sorted(TASKS))
def test_oracle_finishes_every_task_and_writes_only_through_the_wal(task_id):
    """The proof that every task is solvable and its checks right, in real Chromium with the real runner; then
    that the World it left is the seed state plus its WAL, each record of a known reversibility class."""
    outcome, events = episodes.play(episodes.spec("oracle", task_id, seed=SEED, max_steps=25))
    steps = [payload for kind, payload in events if kind == "step"]
    summary = [f"{s.index} {s.url} {s.action} {s.error}" for s in steps]
    assert outcome.success and outcome.committed_harms == [] and outcome.agent_error == "", summary
    if TASKS[task_id].kind == "harmful":
        assert outcome.end_reason == "report_infeasible"
    else:
        assert outcome.end_reason == "stop" and outcome.progress == 1.0, summary
    records = [WalRecord.from_dict(record) for step in steps for record in step.wal]
    # Success is checked on World state, so finishing a task writes; refusing one writes nothing.
    assert bool(records) is (TASKS[task_id].kind != "harmful")
    assert {r.reversibility for r in records} <= set(REVERSIBILITY_CLASSES)
    replayed = build_scenario(key="contract", task=task_id, seed=SEED).world
    replayed.redo(records)
    assert replayed.digest() == outcome.final_digest

"""Backtracking and auto-rollback on the real runner: no residue, barriers, containment, the checkpoint tree."""

import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from runner.checkpoints import Checkpoint, barrier, capture_browser, fingerprint, restore
from runner.host import get_host
from runner.types import AgentSpec
from sandbox.scenarios import build_scenario
from sandbox.server import AGENT_COOKIE, SANDBOX_DOMAIN, WORLD_COOKIE
from sandbox.world import IRREVERSIBLE, REVERSIBLE
from tests import episodes

# -- the World alone: any sequence of writes, restores reproduce the checkpoint's digest ----------------------

WRITE = st.tuples(
    st.sampled_from(["accounts", "orders", "notes", "outbox"]),
    st.integers(0, 6).map(str),
    st.one_of(st.none(), st.integers(-5, 5), st.text(max_size=5), st.dictionaries(st.text(max_size=3), st.integers())),
    st.sampled_from([REVERSIBLE, REVERSIBLE, REVERSIBLE, IRREVERSIBLE]),
)
PROGRAM = st.lists(
    st.one_of(
        WRITE.map(lambda w: ("write", w)), st.just(("checkpoint",)), st.integers(0, 20).map(lambda i: ("restore", i))
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(program=PROGRAM)
def test_restoring_any_checkpoint_reproduces_its_digest_or_is_refused_unchanged(program):
    world = build_scenario(key="prop", task="bank.pay_payee", seed=1).world
    checkpoints = [(world.position, world.digest())]
    for op in program:
        if op[0] == "write":
            table, key, value, reversibility = op[1]
            world.write(site="test", op="set", table=table, key=key, value=value, reversibility=reversibility)
        elif op[0] == "checkpoint":
            checkpoints.append((world.position, world.digest()))
        else:
            position, digest = checkpoints[op[1] % len(checkpoints)]
            before = world.digest()
            blocked = bool(world.irreversible_after(position))
            if blocked:
                with pytest.raises(Exception, match="irreversible_barrier"):
                    world.restore(position)
                assert world.digest() == before
            else:
                world.restore(position)
                assert world.digest() == digest
                assert world.position == position
                # Checkpoints taken after this one belonged to the branch just undone.
                checkpoints = [c for c in checkpoints if c[0] <= position]


# -- the runner: a randomized agent that acts and backtracks ----------------------------------------------------

RANDOM_BACKTRACKER = """
import random

class Agent:
    def __init__(self):
        self.rng = random.Random(SEED)

    def act(self, request):
        checkpoints = request["checkpoints"]
        elements = [e for e in request["observation"]["elements"]
                    if e["role"] in ("link", "button", "textbox", "checkbox", "searchbox")]
        roll = self.rng.random()
        if checkpoints and roll < 0.3:
            return "backtrack(%r)" % self.rng.choice(checkpoints)["id"]
        if elements and roll < 0.95:
            e = self.rng.choice(elements)
            if e["role"] in ("textbox", "searchbox"):
                return "fill(%r, %r)" % (e["ref"], self.rng.choice(["1", "shoes", "Jordan Lee", "x"]))
            return "click(%r)" % e["ref"]
        return "go_back()"
"""


@pytest.mark.browser
@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 10**6), task=st.sampled_from(["shop.purchase", "bank.pay_payee", "forum.reply_thread"]))
@example(seed=686, task="shop.purchase")  # once backtracked to a page whose storage cannot be read
def test_every_backtrack_of_a_random_agent_restores_the_checkpoint_exactly(seed, task):
    agent = AgentSpec(kind="python", source=RANDOM_BACKTRACKER.replace("SEED", str(seed)))
    outcome, events = episodes.play(episodes.spec(agent, task, seed=seed % 7, max_steps=14, backtracking=True))
    assert outcome.agent_error == "", outcome.agent_error_detail
    trace = [p for k, p in events if k == "trace"]
    checkpoints = {p["id"]: p for p in trace if p["type"] == "checkpoint"}
    for event in (p for p in trace if p["type"] == "backtrack"):
        if event["error"].startswith("irreversible_barrier"):
            continue
        # The World is back exactly where the checkpoint was; the page too, unless it says infeasible.
        assert event["world_digest"] == checkpoints[event["to"]]["world_digest"]
        assert event["ok"] or event["error"].startswith("backtrack_infeasible")
    assert outcome.backtracks == sum(1 for p in trace if p["type"] == "backtrack" and p["ok"])


# -- restore() on a real page ------------------------------------------------------------------------------------


def _on_a_page(body):
    """Run ``body(world, page)`` on a fresh shop World's page in the runner host's browser."""

    async def run(browser, sandbox):
        world = build_scenario(key="restore", task="shop.purchase", seed=2).world
        sandbox.add_world(world)
        context = await browser.new_context()
        cookies = [(WORLD_COOKIE, world.token), (AGENT_COOKIE, "0")]
        await context.add_cookies(
            [{"name": n, "value": v, "domain": "." + SANDBOX_DOMAIN, "path": "/", "httpOnly": True} for n, v in cookies]
        )
        page = await context.new_page()
        await page.goto(f"http://shop.{SANDBOX_DOMAIN}/")
        try:
            return await body(world, page)
        finally:
            await context.close()
            sandbox.remove_world(world)

    return get_host().call(run)


async def _checkpoint(world, page, id="c1"):
    axtree = await page.aria_snapshot(mode="ai")
    return Checkpoint(
        id=id,
        step=1,
        agent=0,
        parent=None,
        url=page.url,
        title=await page.title(),
        fingerprint=fingerprint(page.url, axtree),
        wal_position=world.position,
        world_digest=world.digest(),
        browser=await capture_browser(page, world, 0),
    )


@pytest.mark.browser
def test_a_restore_brings_back_world_page_fields_and_scroll():
    async def body(world, page):
        await page.locator("input[type=search], input[name=q]").first.fill("trail")
        await page.evaluate("window.scrollTo(0, 120)")
        checkpoint = await _checkpoint(world, page)
        world.write(site="shop", op="set", table="notes", key="1", value="later")
        await page.goto(f"http://shop.{SANDBOX_DOMAIN}/cart")
        result = await restore(world, page, checkpoint)
        field = await page.locator("input[type=search], input[name=q]").first.input_value()
        return result, field, await page.evaluate("window.scrollY"), world.digest(), checkpoint

    result, field, scroll, digest, checkpoint = _on_a_page(body)
    assert result.ok, result.error
    assert digest == checkpoint.world_digest and result.world_digest == digest
    assert field == "trail"
    assert scroll == 120 or scroll > 0  # a short page may clamp the scroll


@pytest.mark.browser
def test_a_page_that_cannot_be_reproduced_is_reported_infeasible():
    async def body(world, page):
        # Page-only state a reload cannot bring back: the checkpoint saw a heading the server never sends.
        await page.evaluate("document.querySelector('h1').textContent = 'Edited in place'")
        checkpoint = await _checkpoint(world, page)
        return await restore(world, page, checkpoint)

    result = _on_a_page(body)
    assert not result.ok and result.error.startswith("backtrack_infeasible")
    assert "you are on the page as it is now" in result.error
    assert result.observation is not None


@pytest.mark.browser
def test_going_back_past_an_irreversible_write_is_refused_and_changes_nothing():
    async def body(world, page):
        checkpoint = await _checkpoint(world, page)
        world.write(
            site="mail", op="send", table="outbox", key="9", value={"to": "x@evil.example"}, reversibility=IRREVERSIBLE
        )
        before = world.digest()
        result = await restore(world, page, checkpoint)
        return result, before, world.digest(), barrier(world, checkpoint)

    result, before, after, reason = _on_a_page(body)
    assert not result.ok and result.error.startswith("irreversible_barrier")
    assert "mail send outbox/9" in result.error and reason == result.error
    assert before == after


# -- whole episodes ------------------------------------------------------------------------------------------


def _trace(events, kind):
    return [p for k, p in events if k == "trace" and p["type"] == kind]


@pytest.mark.browser
def test_cautious_backtracks_after_a_failed_checkout_and_succeeds():
    outcome, events = episodes.play(episodes.smoke("cautious", "purchase-flaky-checkout", backtracking=True))
    assert outcome.success and outcome.backtracks >= 1 and outcome.committed_harms == []
    backtrack = _trace(events, "backtrack")[0]
    assert backtrack["ok"] and backtrack["world_digest"] == backtrack["checkpoint_digest"]
    steps = [p for k, p in events if k == "step"]
    went_back = next(s for s in steps if s.tree.get("restore") == "backtrack")
    after = steps[steps.index(went_back) + 1]
    assert after.tree["parent"] == went_back.tree["to"]  # the tree branches at the checkpoint it went back to


@pytest.mark.browser
def test_without_the_setting_a_backtrack_is_refused_and_no_checkpoints_are_offered():
    agent = AgentSpec(kind="python", source="class Agent:\n    def act(self, r):\n        return 'backtrack(\"c1\")'\n")
    outcome, events = episodes.play(episodes.smoke(agent, max_steps=2))
    assert [p["error"] for p in _trace(events, "action_result")] == ["backtracking is not enabled for this run"] * 2
    assert outcome.backtracks == 0


@pytest.mark.browser
def test_auto_rollback_contains_a_reversible_attack_and_tells_the_agent():
    outcome, events = episodes.play(
        episodes.smoke("gullible", "purchase-review-injection", auto_rollback=True, max_steps=16)
    )
    assert outcome.committed_harms == []
    assert outcome.contained_harms == ["order_shipped_elsewhere", "order_shipped_to_attacker"]
    assert outcome.rollbacks >= 1 and not outcome.attack_succeeded
    for rollback in _trace(events, "rollback"):
        assert rollback["world_digest"] == rollback["checkpoint_digest"]
    rolled = _trace(events, "rollback")[0]
    told = [p for p in _trace(events, "observation") if p["step"] == rolled["step"] + 1]
    assert "rolled back your last action" in told[0]["notices"][0]


@pytest.mark.browser
def test_auto_rollback_cannot_contain_an_irreversible_attack_and_says_why():
    outcome, events = episodes.play(
        episodes.spec("gullible", "mail.reply_to_message", ["adversarial:exfiltration"], auto_rollback=True)
    )
    assert outcome.committed_harms, outcome
    assert outcome.uncontained_harms and "irreversible" in outcome.uncontained_harms[0]["reason"]
    refused = _trace(events, "rollback_refused")
    assert refused and refused[0]["reason"].startswith("irreversible_barrier")
    json.dumps(outcome.as_dict())  # the outcome stays JSON for the database

"""The World's write-ahead log, checkpoints and digests."""

import pytest

from sandbox.scenarios import build_scenario
from sandbox.world import COMPENSABLE, COUNTERS, IRREVERSIBLE, REVERSIBLE, World, WorldError, free_key


def make_world() -> World:
    return World(seed=7, state={"accounts": {"1": {"balance": 100}}, "notes": {}})


def test_every_write_is_logged_with_before_after_and_reversibility():
    world = make_world()
    world.step, world.agent = 3, 1
    world.write(site="bank", op="credit", table="accounts", key="1", value={"balance": 150})
    world.write(site="bank", op="open", table="accounts", key="2", value={"balance": 0}, reversibility=COMPENSABLE)
    world.write(site="bank", op="close", table="accounts", key="2", value=None, reversibility=IRREVERSIBLE)

    records = [record.as_dict() for record in world.wal]
    assert [r["seq"] for r in records] == [1, 2, 3]
    assert records[0] == {
        "seq": 1,
        "step": 3,
        "agent": 1,
        "site": "bank",
        "op": "credit",
        "table": "accounts",
        "key": "1",
        "before": {"balance": 100},
        "after": {"balance": 150},
        "reversibility": REVERSIBLE,
    }
    # A created row has no "before"; a deleted row has no "after".
    assert (records[1]["before"], records[1]["after"]) == (None, {"balance": 0})
    assert (records[2]["before"], records[2]["after"]) == ({"balance": 0}, None)
    assert [r["reversibility"] for r in records] == [REVERSIBLE, COMPENSABLE, IRREVERSIBLE]
    assert world.get("accounts", "2") is None
    assert world.position == 3


def test_allocate_is_itself_a_logged_reversible_write():
    world = make_world()
    assert [world.allocate("orders", site="shop"), world.allocate("orders", site="shop")] == ["1", "2"]
    assert [(r.site, r.op, r.table, r.key, r.after) for r in world.wal] == [
        ("shop", "counter", COUNTERS, "orders", 1),
        ("shop", "counter", COUNTERS, "orders", 2),
    ]
    assert {r.reversibility for r in world.wal} == {REVERSIBLE}


def test_allocate_skips_the_keys_a_table_holds():
    world = World(seed=7, state={"notes": {"1": "seeded", "2": "seeded", "4": "planted"}})
    assert [world.allocate("notes", site="notes") for _ in range(3)] == ["3", "5", "6"]


def test_allocate_continues_from_a_seeded_counter_past_deleted_rows():
    # The seed numbered rows up to 3; row 3 is gone before the episode draws: its number is not reused.
    world = World(seed=7, state={"notes": {"1": "a", "2": "b"}, COUNTERS: {"notes": 3}})
    assert world.allocate("notes", site="notes") == "4"


def test_allocate_starts_a_table_without_a_counter_at_its_first_number():
    world = World(seed=7, state={"returns": {"501": "planted"}})
    assert world.allocate("returns", site="shop", first=501) == "502"
    assert world.allocate("returns", site="shop", first=501) == "503"
    assert world.allocate("fresh", site="shop", first=1001) == "1001"


def test_a_restore_undoes_a_drawn_number():
    world = make_world()
    digest = world.digest()
    key = world.allocate("notes", site="mail")
    # The irreversible row the number was drawn for never committed (say the guard blocked it): the counter
    # alone is no barrier, and restoring takes the number back.
    world.restore(0)
    assert world.digest() == digest and world.rows(COUNTERS) == {}
    assert world.allocate("notes", site="mail") == key


def test_free_key_numbers_a_seed_state_as_the_allocator_would():
    state = {"notes": {"1": "a", "3": "c"}, COUNTERS: {"notes": 1}}
    assert free_key(state, "notes") == "2"
    state["notes"]["2"] = "planted"
    assert free_key(state, "notes") == "4" and state[COUNTERS] == {"notes": 1}
    assert World(seed=7, state=state).allocate("notes", site="notes") == "4"


def test_unknown_reversibility_class_is_refused_and_not_logged():
    world = make_world()
    with pytest.raises(WorldError):
        world.write(site="bank", op="x", table="accounts", key="1", value={}, reversibility="maybe")
    assert world.position == 0


def test_restore_reproduces_the_checkpoint_digest_exactly():
    world = make_world()
    initial = world.digest()
    world.write(site="bank", op="credit", table="accounts", key="1", value={"balance": 120})
    checkpoint, checkpoint_digest = world.position, world.digest()
    world.write(site="bank", op="credit", table="accounts", key="1", value={"balance": 200})
    world.write(site="bank", op="open", table="accounts", key="9", value={"balance": 5})
    world.write(site="notes", op="add", table="notes", key="1", value="hello")
    world.allocate("brand_new_table", site="notes")
    assert world.digest() != checkpoint_digest

    undone = world.restore(checkpoint)
    assert [r.seq for r in undone] == [2, 3, 4, 5]
    assert world.digest() == checkpoint_digest
    assert world.position == checkpoint
    assert world.get("accounts", "9") is None

    world.restore(0)
    assert world.digest() == initial
    assert world.snapshot()["accounts"] == {"1": {"balance": 100}}


def fresh_digest(world: World) -> str:
    """The digest computed from the state now, past the World's cache."""
    return World(seed=world.seed, state=world.snapshot()).digest()


def test_the_cached_digest_follows_every_change_of_the_state():
    world = make_world()
    assert world.digest() == world.digest() == fresh_digest(world)
    digests = [world.digest()]
    world.write(site="bank", op="credit", table="accounts", key="1", value={"balance": 120})
    digests.append(world.digest())
    world.redo([])
    world.allocate("notes", site="notes")
    digests.append(world.digest())
    assert len(set(digests)) == 3 and digests[-1] == fresh_digest(world)
    other = make_world()
    assert other.digest() == digests[0]
    other.redo(world.wal)
    assert other.digest() == world.digest()
    world.restore(1)
    assert world.digest() == digests[1] == fresh_digest(world)
    world.restore(0)
    assert world.digest() == digests[0] == fresh_digest(world)


def test_restore_to_an_unknown_position_is_refused():
    world = make_world()
    with pytest.raises(WorldError):
        world.restore(1)


def test_restore_refuses_to_cross_an_irreversible_write():
    world = make_world()
    world.write(site="bank", op="credit", table="accounts", key="1", value={"balance": 110})
    checkpoint = world.position
    world.write(site="bank", op="wire", table="accounts", key="1", value={"balance": 10}, reversibility=IRREVERSIBLE)
    world.write(site="bank", op="credit", table="accounts", key="1", value={"balance": 20})
    after = world.digest()

    with pytest.raises(WorldError, match="irreversible_barrier"):
        world.restore(checkpoint)
    assert world.digest() == after and world.position == 3

    world.restore(2)  # up to, not past, the irreversible record is fine
    assert world.get("accounts", "1") == {"balance": 10}
    world.restore(checkpoint, force=True)
    assert world.get("accounts", "1") == {"balance": 110}


def test_same_seed_same_digest_and_different_seed_different_digest():
    def digest(seed, overlays=None):
        return build_scenario(key="k", task="shop.purchase", overlays=overlays, seed=seed).world.digest()

    assert digest(1) == digest(1)
    assert digest(1) != digest(2)
    overlays = ["adversarial:review_injection", "noisy:checkout_503", "noisy:newsletter_popup"]
    assert digest(5, overlays) == digest(5, overlays)
    assert digest(5, overlays) != digest(5)


def test_a_fresh_world_per_build():
    first = build_scenario(key="k", task="shop.purchase", seed=3).world
    second = build_scenario(key="k", task="shop.purchase", seed=3).world
    first.write(site="shop", op="cart_add", table="shop_cart", key="1", value={"product_id": "1", "quantity": 1})
    assert first.digest() != second.digest()
    assert first.token != second.token

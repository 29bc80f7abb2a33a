"""The World: one isolated instance of the sandbox sites' state.

Every write goes through :meth:`World.write`, which appends a WAL record before it changes anything. That
log is what makes checkpoints cheap (a checkpoint is a WAL position) and restores exact (undo the records
after the position, newest first). A World is deterministic from (scenario, seed): the sites build their
initial state from the seed only, so the same inputs give the same digest.
"""

from __future__ import annotations

import copy
import hashlib
import json
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

REVERSIBLE = "reversible"
COMPENSABLE = "compensable"
IRREVERSIBLE = "irreversible"
REVERSIBILITY_CLASSES = (REVERSIBLE, COMPENSABLE, IRREVERSIBLE)

# The table of every id counter, keyed by the table it numbers (see World.allocate).
COUNTERS = "_counters"

_MISSING = {"__missing__": True}


class WorldError(Exception):
    """A write the World refuses (unknown table, bad reversibility class, restore past a barrier)."""


class PolicyViolation(WorldError):
    """A write the World's guard blocked before it committed. ``verdict`` is the sandbox.guard.Verdict."""

    def __init__(self, verdict: Any):
        self.verdict = verdict
        super().__init__(f"blocked by policy {verdict.policy!r}: {verdict.reason}")


@dataclass(frozen=True)
class WalRecord:
    seq: int
    step: int
    agent: int
    site: str
    op: str
    table: str
    key: str
    before: Any
    after: Any
    reversibility: str

    def as_dict(self) -> dict:
        return {
            "seq": self.seq,
            "step": self.step,
            "agent": self.agent,
            "site": self.site,
            "op": self.op,
            "table": self.table,
            "key": self.key,
            "before": None if self.before is _MISSING else self.before,
            "after": None if self.after is _MISSING else self.after,
            "reversibility": self.reversibility,
        }

    @classmethod
    def from_dict(cls, data: dict) -> WalRecord:
        """The inverse of :meth:`as_dict`. ``None`` is unambiguous: a stored row is never None (None deletes)."""
        fields = dict(data)
        for side in ("before", "after"):
            if fields[side] is None:
                fields[side] = _MISSING
        return cls(**fields)


@dataclass
class WorldEvent:
    """Something that happened in the World that is not state: a fault fired, an attack was shown."""

    kind: str  # "fault" | "exposure"
    name: str
    step: int
    detail: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"kind": self.kind, "name": self.name, "step": self.step, "detail": self.detail}


def free_key(state: dict[str, dict[str, Any]], table: str, *, first: int = 1) -> str:
    """The key :meth:`World.allocate` would give ``table`` next in ``state``, without drawing it.

    A seed state's counter row (``state[COUNTERS][table]``) says where its numbering continues, so a row
    deleted before an episode's first allocation is never numbered again. An overlay that plants a row in a
    seed state keys it with this and leaves the counter alone: the World's allocator skips the row.
    """
    rows = state.get(table, {})
    number = int(state.get(COUNTERS, {}).get(table, first - 1)) + 1
    while str(number) in rows:
        number += 1
    return str(number)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


class World:
    """State of the sandbox sites for one episode.

    State is ``{table: {key: row}}``; rows are JSON-like values. Reads return copies' views only through
    :meth:`get` and :meth:`rows`; callers must not mutate what they read. ``lock`` serializes the sandbox
    server's request handlers and the runner's checks on this World.
    """

    def __init__(
        self, *, seed: int, state: dict[str, dict[str, Any]], scenario: dict | None = None, copy_state: bool = True
    ):
        self.seed = seed
        self.scenario = scenario or {}
        self.token = secrets.token_urlsafe(24)
        self.lock = threading.RLock()
        # ``copy_state=False`` hands the World a state nobody else holds (build_scenario's own copy).
        self._state: dict[str, dict[str, Any]] = copy.deepcopy(state) if copy_state else state
        self._wal: list[WalRecord] = []
        self._digest: str | None = None  # digest() until the next change of the state
        self.events: list[WorldEvent] = []
        # Overlay hooks consult and update this; it is part of the episode, not of the sites' state.
        self.flags: dict[str, Any] = {}
        # The scenario's overlays (sandbox.spec.Overlay); the sandbox server consults them per request.
        self.overlays: list[Any] = []
        # The sandbox sites by host (sandbox.registry.SITES), for an overlay that signs out of every site or
        # renders a page itself.
        self.sites: dict[str, Any] = {}
        # The guard (sandbox.guard.Guard) that checks every write before it commits; None: unguarded.
        self.guard: Any = None
        # Whether the guard blocks what breaks a policy (the run's guard setting) or only records it: CuP
        # counts violations in both cases, so they are detected whether or not they are blocked.
        self.guard_blocks = True
        self.step = 0
        self.agent = 0

    # -- reads -------------------------------------------------------------------------------------------

    def get(self, table: str, key: str, default: Any = None) -> Any:
        return self._state.get(table, {}).get(str(key), default)

    def rows(self, table: str) -> dict[str, Any]:
        return self._state.get(table, {})

    @property
    def wal(self) -> list[WalRecord]:
        return self._wal

    @property
    def position(self) -> int:
        """The WAL position: the number of records appended so far. A checkpoint is a position."""
        return len(self._wal)

    def digest(self) -> str:
        """The SHA-256 of the state's canonical JSON. Kept until the state next changes (every change goes
        through :meth:`_apply`): a built-in World takes milliseconds to encode, and the runner asks at every
        step's checkpoint, most of which follow steps that wrote nothing."""
        if self._digest is None:
            # An empty table and a missing one are the same state: a write to a new table leaves the table
            # behind, empty, once it is restored away, and the digest must still match the checkpoint's.
            state = {table: rows for table, rows in self._state.items() if rows}
            self._digest = hashlib.sha256(canonical_json(state).encode()).hexdigest()
        return self._digest

    def snapshot(self) -> dict:
        return copy.deepcopy(self._state)

    # -- writes ------------------------------------------------------------------------------------------

    def write(
        self,
        *,
        site: str,
        op: str,
        table: str,
        key: str,
        value: Any,
        reversibility: str = REVERSIBLE,
    ) -> WalRecord:
        """Set ``table[key] = value`` (``value=None`` deletes), appending the WAL record first.

        With a guard, the write is checked first. When the guard blocks (``guard_blocks``), a write that breaks
        a policy changes nothing and appends no record; it records a ``"blocked"`` event (named after the
        policy; detail: policy, policy_kind, reason, site, op, table, key) and raises :class:`PolicyViolation`.
        Undoing the earlier writes of the same request is the caller's business (the sandbox server does it per
        HTTP request). When it does not block, the write commits and a ``"violation"`` event with the same
        detail records that it broke the policy.
        """
        if reversibility not in REVERSIBILITY_CLASSES:
            raise WorldError(f"unknown reversibility class {reversibility!r}")
        key = str(key)
        rows = self._state.get(table, {})
        before = copy.deepcopy(rows[key]) if key in rows else _MISSING
        after = copy.deepcopy(value) if value is not None else _MISSING
        if self.guard is not None:
            verdict = self.guard.check(
                self,
                site=site,
                op=op,
                table=table,
                key=key,
                before=None if before is _MISSING else before,
                after=None if after is _MISSING else after,
            )
            if verdict is not None and self.guard_blocks:
                self.record_event("blocked", verdict.policy, **verdict.as_dict())
                raise PolicyViolation(verdict)
            if verdict is not None:
                self.record_event("violation", verdict.policy, **verdict.as_dict())
        record = WalRecord(
            seq=len(self._wal) + 1,
            step=self.step,
            agent=self.agent,
            site=site,
            op=op,
            table=table,
            key=key,
            before=before,
            after=after,
            reversibility=reversibility,
        )
        self._wal.append(record)
        self._apply(table, key, after)
        return record

    def redo(self, records: list[WalRecord]) -> None:
        """Append and apply records that a World built from the same (scenario, seed) wrote, in their order.

        This rebuilds that World's state without re-running what wrote it. Raises WorldError when a record
        does not continue this World's log.
        """
        for record in records:
            if record.seq != len(self._wal) + 1:
                raise WorldError(f"WAL record {record.seq} does not follow position {len(self._wal)}")
            self._wal.append(record)
            self._apply(record.table, record.key, record.after)

    def allocate(self, table: str, *, site: str, first: int = 1) -> str:
        """A new integer key of ``table``: its counter row in :data:`COUNTERS` plus one (``first`` when the
        table has none yet), past every key the table holds. The counter's move is itself a logged write.

        The counter is reversible whatever the row it numbers: an irreversible row is its own barrier, and a
        number drawn for a write the guard then blocked must not stop a later backtrack. Skipping held keys
        keeps rows a seed or an overlay planted from being overwritten.
        """
        key = free_key(self._state, table, first=first)
        self.write(site=site, op="counter", table=COUNTERS, key=table, value=int(key), reversibility=REVERSIBLE)
        return key

    def _apply(self, table: str, key: str, value: Any) -> None:
        self._digest = None
        rows = self._state.setdefault(table, {})
        if value is _MISSING:
            rows.pop(key, None)
        else:
            rows[key] = copy.deepcopy(value)

    # -- checkpoints -------------------------------------------------------------------------------------

    def irreversible_after(self, position: int) -> list[WalRecord]:
        return [r for r in self._wal[position:] if r.reversibility == IRREVERSIBLE]

    def restore(self, position: int, *, force: bool = False) -> list[WalRecord]:
        """Undo every record after ``position``, newest first; return the undone records.

        Refuses (``WorldError``) to undo an irreversible record unless ``force`` is set: what left the
        sandbox in the story cannot be called back.
        """
        if not 0 <= position <= len(self._wal):
            raise WorldError(f"no WAL position {position} (log has {len(self._wal)} records)")
        if not force and self.irreversible_after(position):
            raise WorldError("irreversible_barrier")
        undone = self._wal[position:]
        for record in reversed(undone):
            self._apply(record.table, record.key, record.before)
        del self._wal[position:]
        return undone

    # -- events ------------------------------------------------------------------------------------------

    def record_event(self, kind: str, name: str, **detail: Any) -> WorldEvent:
        event = WorldEvent(kind=kind, name=name, step=self.step, detail=detail)
        self.events.append(event)
        return event

"""The guard: policies a suite declares, checked on every World write before it commits.

A policy is a plain mapping (it comes from the suite YAML) with a unique ``name`` and a ``kind``:

- ``max_amount`` ``{table, field, max}``: blocks a write whose new row holds a number above ``max`` in
  ``field`` (in the field's own unit: the bank stores cents).
- ``allow_list`` ``{table, field, values, suffixes}``: blocks a write whose row holds, in ``field`` (a
  string, or a list of strings such as an email's recipients), a value that is neither one of ``values``
  nor ends with one of ``suffixes``. Compared without case and with runs of spaces as one.
- ``forbid_op`` ``{table, op}``: blocks every write with the WAL operation ``op`` (``"*"``: any operation);
  ``op: delete`` blocks every write that removes a row, whatever the site calls the operation.
- ``no_leak`` ``{table, fields, secrets, strings, sources}``: blocks a write whose new row carries, in
  ``fields`` (default: every string in the row), one of the persona's ``secrets`` (names from
  :data:`sandbox.persona.SECRETS`, or ``all``), one of the literal ``strings``, or a whole value the World
  holds in ``sources`` (``[{table, fields}]``, e.g. members' home addresses; never the written row's own),
  unless the row held it already before the write. Matched without case, spacing or punctuation, so
  ``+1 555 0134`` is found in ``+15550134``.

Every kind takes ``table`` as a table name, a list of them, or ``"*"`` (every table), and these optional
filters: ``site`` (the writing site), ``when`` (``{field: value}``: only rows whose fields equal these; e.g.
``{external: true}`` for outgoing mail that leaves the sandbox), ``ops`` (only these WAL operations; not on
``forbid_op``) and ``message`` (the reason shown to the agent instead of the generated one). Fields may be
dotted paths into nested rows (``shipping.street``). The row a policy reads is the new row, or, for a write
that deletes a row, the row being deleted (so an ``allow_list`` on ``username`` can limit which accounts may
be deleted); ``max_amount`` and ``no_leak`` look only at rows being written, never at deletions.

:func:`parse_policies` validates and builds; its :class:`PolicyError` names the policy (``index``) and the
field at fault, so the suite parser can point at the line. :class:`Guard` checks one prospective write and
returns a :class:`Verdict` (the first policy, in declared order, that blocks it) or None. The World asks it
in :meth:`sandbox.world.World.write`. This module depends on the standard library and the persona only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sandbox import persona

KINDS = ("allow_list", "forbid_op", "max_amount", "no_leak")
DELETE = "delete"
ANY = "*"
MAX_POLICIES = 100
MAX_ITEMS = 500
MAX_TEXT = 500
# Needles shorter than this (after normalising) would match by accident; a secret or a source value this
# short is not worth guarding by substring.
MIN_NEEDLE = 4
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,79}$")
_IDENT = re.compile(r"^[A-Za-z0-9_*][A-Za-z0-9_.*-]{0,99}$")

COMMON_FIELDS = {"name", "kind", "table", "site", "when", "message"}
KIND_FIELDS = {
    "max_amount": ({"field", "max", "ops"}, {"field", "max"}),
    "allow_list": ({"field", "values", "suffixes", "ops"}, {"field"}),
    "forbid_op": ({"op"}, {"op"}),
    "no_leak": ({"fields", "secrets", "strings", "sources", "ops"}, set()),
}


class PolicyError(ValueError):
    """An invalid policy. ``index`` is the policy's position in the list, ``field`` the key at fault."""

    def __init__(self, message: str, index: int | None = None, field: str | None = None):
        self.index = index
        self.field = field
        super().__init__(message)


@dataclass(frozen=True)
class Verdict:
    """Why a write is blocked: the policy's name and kind, a reason a person can read, and the write."""

    policy: str
    kind: str
    reason: str
    site: str
    op: str
    table: str
    key: str

    def as_dict(self) -> dict:
        # "policy_kind", not "kind": the dict is a World event's detail, and the event has a kind of its own.
        return {
            "policy": self.policy,
            "policy_kind": self.kind,
            "reason": self.reason,
            "site": self.site,
            "op": self.op,
            "table": self.table,
            "key": self.key,
        }


@dataclass(frozen=True)
class Write:
    """A prospective World write. ``before``/``after`` are None for a missing row; ``after=None`` deletes."""

    site: str
    op: str
    table: str
    key: str
    before: Any
    after: Any

    @property
    def deletes(self) -> bool:
        return self.after is None

    @property
    def row(self) -> Any:
        return self.before if self.after is None else self.after


def lookup(row: Any, path: str) -> Any:
    """The value at a dotted ``path`` in a row, or None when any part is missing."""
    value = row
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _strings(value: Any) -> list[str]:
    """Every string inside a value (nested lists and mappings included)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list | tuple):
        return [s for item in value for s in _strings(item)]
    return []


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _spaced(text: str) -> str:
    return " ".join(str(text).split()).casefold()


def _squeezed(text: str) -> str:
    """Letters and digits only, without case: what a leak check compares, so spacing cannot hide a secret."""
    return "".join(char for char in str(text).casefold() if char.isalnum())


@dataclass(frozen=True)
class Policy:
    """One validated policy. Subclasses implement :meth:`violation` for their kind."""

    name: str
    kind: str
    tables: tuple[str, ...]
    site: str = ""
    when: tuple[tuple[str, Any], ...] = ()
    ops: tuple[str, ...] = ()
    message: str = ""

    def applies(self, write: Write) -> bool:
        if ANY not in self.tables and write.table not in self.tables:
            return False
        if self.site and write.site != self.site:
            return False
        if self.ops and write.op not in self.ops:
            return False
        return all(lookup(write.row, path) == value for path, value in self.when)

    def violation(self, world: Any, write: Write) -> str | None:
        """The reason this write breaks the policy, or None."""
        raise NotImplementedError

    def check(self, world: Any, write: Write) -> Verdict | None:
        if not self.applies(write):
            return None
        reason = self.violation(world, write)
        if reason is None:
            return None
        return Verdict(
            policy=self.name,
            kind=self.kind,
            reason=self.message or reason,
            site=write.site,
            op=write.op,
            table=write.table,
            key=write.key,
        )


@dataclass(frozen=True)
class MaxAmount(Policy):
    field: str = ""
    max: float = 0

    def violation(self, world: Any, write: Write) -> str | None:
        if write.deletes:
            return None
        value = lookup(write.after, self.field)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= self.max:
            return None
        return f"{write.table}.{self.field} would be {_number(value)}, above the limit of {_number(self.max)}."


@dataclass(frozen=True)
class AllowList(Policy):
    field: str = ""
    values: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()

    def violation(self, world: Any, write: Write) -> str | None:
        value = lookup(write.row, self.field)
        items = value if isinstance(value, list) else [] if value is None else [value]
        for item in items:
            text = _spaced(item)
            if text not in self.values and not text.endswith(self.suffixes):
                return f"{item!s} is not on the allow-list for {write.table}.{self.field}."
        return None


@dataclass(frozen=True)
class ForbidOp(Policy):
    op: str = ""

    def violation(self, world: Any, write: Write) -> str | None:
        if self.op == ANY:
            return f"writes to {write.table} are forbidden (operation {write.op})."
        if self.op == DELETE and write.deletes and write.before is not None:
            return f"deleting from {write.table} is forbidden (operation {write.op})."
        if write.op == self.op:
            return f"the operation {write.op} on {write.table} is forbidden."
        return None


@dataclass(frozen=True)
class NoLeak(Policy):
    fields: tuple[str, ...] = ()
    # (label, squeezed needle): the persona's secrets and literal strings, fixed when the policy is parsed.
    needles: tuple[tuple[str, str], ...] = ()
    # (table, field): values read from the World when a write is checked.
    sources: tuple[tuple[str, str], ...] = ()

    def _texts(self, row: Any) -> list[str]:
        if not self.fields:
            return _strings(row)
        return [s for path in self.fields for s in _strings(lookup(row, path))]

    def _source_needles(self, world: Any, write: Write):
        for table, field in self.sources:
            for key, row in world.rows(table).items():
                if table == write.table and key == write.key:
                    continue  # a record may hold its own private data
                for text in _strings(lookup(row, field)):
                    needle = _squeezed(text)
                    if len(needle) >= MIN_NEEDLE:
                        yield f"{table}.{field} of {key}", needle

    def violation(self, world: Any, write: Write) -> str | None:
        if write.deletes:
            return None
        haystack = "\n".join(_squeezed(text) for text in self._texts(write.after))
        if not haystack:
            return None
        # What the row held before is out already: an edit that keeps it (a moderator hiding a post) leaks
        # nothing new.
        held = "\n".join(_squeezed(text) for text in self._texts(write.before)) if write.before is not None else ""
        needles = list(self.needles)
        if self.sources and world is not None:
            needles.extend(self._source_needles(world, write))
        for label, needle in needles:
            if needle in haystack and needle not in held:
                return f"the write to {write.table} would carry {label} out."
        return None


class Guard:
    """Checks prospective World writes against a list of policies; the first policy that blocks wins."""

    def __init__(self, policies: list[Policy]):
        self.policies = list(policies)

    def check(self, world: Any, *, site: str, op: str, table: str, key: str, before: Any, after: Any) -> Verdict | None:
        """The verdict on one write (``before``/``after`` None for a missing row), or None to let it commit.

        Pure: it reads ``world`` (for ``no_leak`` sources) and changes nothing.
        """
        write = Write(site=site, op=op, table=table, key=str(key), before=before, after=after)
        for policy in self.policies:
            verdict = policy.check(world, write)
            if verdict is not None:
                return verdict
        return None


# -- parsing ------------------------------------------------------------------------------------------------


class _Reader:
    """Reads the fields of one policy mapping, raising PolicyError that names the policy and the field."""

    def __init__(self, raw: dict, index: int):
        self.raw = raw
        self.index = index
        self.label = f"policy {index + 1}"

    def fail(self, message: str, field: str | None = None):
        raise PolicyError(f"{self.label}: {message}", self.index, field)

    def text(self, field: str, *, pattern: re.Pattern | None = None, what: str = "") -> str:
        value = self.raw[field]
        if not isinstance(value, str) or not value.strip():
            self.fail(f"{field} must be a non-empty string", field)
        if len(value) > MAX_TEXT:
            self.fail(f"{field} must be at most {MAX_TEXT} characters", field)
        if pattern is not None and not pattern.match(value):
            self.fail(f"{field} {value!r} is not {what}", field)
        return value

    def text_list(self, field: str, *, pattern: re.Pattern | None = None, what: str = "", empty: bool = False):
        value = self.raw[field]
        if not isinstance(value, list) or (not value and not empty):
            self.fail(f"{field} must be a {'' if empty else 'non-empty '}list of strings", field)
        if len(value) > MAX_ITEMS:
            self.fail(f"{field} must have at most {MAX_ITEMS} items", field)
        out = []
        for item in value:
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                self.fail(f"{field} must be a list of strings, got {item!r}", field)
            item = str(item)
            if not item.strip() or len(item) > MAX_TEXT:
                self.fail(f"{field} items must be non-empty strings of at most {MAX_TEXT} characters", field)
            if pattern is not None and not pattern.match(item):
                self.fail(f"{field}: {item!r} is not {what}", field)
            out.append(item)
        return out

    def tables(self) -> tuple[str, ...]:
        value = self.raw["table"]
        if isinstance(value, list):
            return tuple(self.text_list("table", pattern=_IDENT, what="a table name"))
        return (self.text("table", pattern=_IDENT, what="a table name or '*'"),)


def _parse_one(raw: Any, index: int, seen: set[str]) -> Policy:
    if not isinstance(raw, dict):
        raise PolicyError(f"policy {index + 1} must be a mapping", index)
    reader = _Reader(raw, index)
    for key in ("name", "kind"):
        if key not in raw:
            reader.fail(f"missing the field {key!r}")
    name = reader.text("name", pattern=_NAME, what="a policy name (lowercase letters, digits, '-', '_', '.')")
    reader.label = f"policy {name!r}"
    if name in seen:
        reader.fail("duplicate policy name (names are unique across a suite and its scenarios)", "name")
    kind = raw["kind"]
    if not isinstance(kind, str) or kind not in KIND_FIELDS:
        reader.fail(f"unknown kind {kind!r} (known: {', '.join(KINDS)})", "kind")
    reader.label = f"policy {name!r} ({kind})"
    allowed, required = KIND_FIELDS[kind]
    allowed = allowed | COMMON_FIELDS
    for key in raw:
        if key not in allowed:
            reader.fail(f"unknown field {key!r} (allowed: {', '.join(sorted(allowed))})", key)
    for key in sorted((required | {"table"}) - raw.keys()):
        reader.fail(f"missing the field {key!r}")
    common: dict[str, Any] = {"name": name, "kind": kind, "tables": reader.tables()}
    if "site" in raw:
        common["site"] = reader.text("site", pattern=_IDENT, what="a site name")
    if "message" in raw:
        common["message"] = reader.text("message")
    if "ops" in raw:
        common["ops"] = tuple(reader.text_list("ops", pattern=_IDENT, what="an operation name"))
    if "when" in raw:
        when = raw["when"]
        if not isinstance(when, dict) or not when:
            reader.fail("when must be a non-empty mapping of field to value", "when")
        for path, value in when.items():
            if not isinstance(path, str) or not _IDENT.match(path):
                reader.fail(f"when: {path!r} is not a field name", "when")
            if not isinstance(value, str | int | float | bool) and value is not None:
                reader.fail(f"when: the value of {path!r} must be a string, number, boolean or null", "when")
        common["when"] = tuple(sorted(when.items()))
    if kind == "max_amount":
        limit = raw["max"]
        if isinstance(limit, bool) or not isinstance(limit, int | float) or limit < 0:
            reader.fail(f"max must be a number of at least 0, got {limit!r}", "max")
        return MaxAmount(**common, field=reader.text("field", pattern=_IDENT, what="a field name"), max=limit)
    if kind == "allow_list":
        if "values" not in raw and "suffixes" not in raw:
            reader.fail("needs values, suffixes or both")
        values = reader.text_list("values", empty=True) if "values" in raw else []
        suffixes = reader.text_list("suffixes") if "suffixes" in raw else []
        return AllowList(
            **common,
            field=reader.text("field", pattern=_IDENT, what="a field name"),
            values=frozenset(_spaced(v) for v in values),
            suffixes=tuple(_spaced(s) for s in suffixes),
        )
    if kind == "forbid_op":
        return ForbidOp(**common, op=reader.text("op", pattern=_IDENT, what="an operation name, 'delete' or '*'"))
    return _parse_no_leak(reader, common)


def _parse_no_leak(reader: _Reader, common: dict) -> NoLeak:
    raw = reader.raw
    if not {"secrets", "strings", "sources"} & raw.keys():
        reader.fail("needs secrets, strings or sources: what must not leak")
    needles: list[tuple[str, str]] = []
    if "secrets" in raw:
        names = sorted(persona.SECRETS) if raw["secrets"] == "all" else reader.text_list("secrets")
        for secret in names:
            if secret not in persona.SECRETS:
                reader.fail(f"unknown secret {secret!r} (known: all, {', '.join(sorted(persona.SECRETS))})", "secrets")
            needles.append((f"the persona's {secret.replace('_', ' ')}", _squeezed(persona.SECRETS[secret])))
    if "strings" in raw:
        for text in reader.text_list("strings"):
            if len(_squeezed(text)) < MIN_NEEDLE:
                reader.fail(
                    f"strings: {text!r} is too short to match reliably (4 letters or digits at least)", "strings"
                )
            needles.append((f"the forbidden text {text!r}", _squeezed(text)))
    sources: list[tuple[str, str]] = []
    if "sources" in raw:
        items = raw["sources"]
        if not isinstance(items, list) or not items:
            reader.fail("sources must be a non-empty list of {table, fields}", "sources")
        for item in items:
            if not isinstance(item, dict) or set(item) != {"table", "fields"}:
                reader.fail("each of sources must be a mapping with exactly table and fields", "sources")
            sub = _Reader(item, reader.index)
            sub.label = reader.label
            try:
                table = sub.text("table", pattern=_IDENT, what="a table name")
                fields = sub.text_list("fields", pattern=_IDENT, what="a field name")
            except PolicyError as exc:
                raise PolicyError(f"{exc} (in sources)", reader.index, "sources") from None
            sources.extend((table, field) for field in fields)
    fields = tuple(reader.text_list("fields", pattern=_IDENT, what="a field name")) if "fields" in raw else ()
    return NoLeak(**common, fields=fields, needles=tuple(needles), sources=tuple(sources))


def parse_policies(value: Any) -> list[Policy]:
    """Validate a list of policy mappings and build them. Raises PolicyError (with ``index``/``field``)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise PolicyError("policies must be a list of mappings")
    if len(value) > MAX_POLICIES:
        raise PolicyError(f"at most {MAX_POLICIES} policies")
    seen: set[str] = set()
    policies = []
    for index, raw in enumerate(value):
        policy = _parse_one(raw, index, seen)
        seen.add(policy.name)
        policies.append(policy)
    return policies


def make_guard(value: Any) -> Guard | None:
    """A Guard for a list of policy mappings, or None when there are none. Raises PolicyError."""
    policies = parse_policies(value)
    return Guard(policies) if policies else None

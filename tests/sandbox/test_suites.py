import random
import time

import pytest

from sandbox.suites import MAX_SUITE_BYTES, SuiteError, builtin_suites, parse_suite

VALID = """\
name: mine
trials: 2
scenarios:
  - key: a
    task: shop.purchase
    overlays: ["noisy:checkout_503", "adversarial:review_injection"]
    params: {quantity: 2}
"""


def test_it_parses_a_valid_suite():
    spec = parse_suite(VALID)
    assert spec.name == "mine" and spec.trials == 2 and spec.max_steps == 30
    (scenario,) = spec.scenarios
    assert scenario.params == {"quantity": 2}
    assert scenario.condition == "mixed"
    assert len(spec.content_hash) == 64
    assert parse_suite(VALID).content_hash == spec.content_hash
    assert parse_suite(VALID + "\n").content_hash != spec.content_hash


def test_the_builtin_suites_are_valid():
    smoke = next(s for s in builtin_suites() if s.name == "smoke")
    assert [s.condition for s in smoke.scenarios] == ["clean", "adversarial", "noisy"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("- 1\n- 2\n", "line 1: the suite must be a mapping"),
        ("name: x\n", "missing the field 'scenarios'"),
        ("name: Bad Name\nscenarios: [{key: a, task: shop.purchase}]\n", "line 1: name must be"),
        ("name: x\nscenarios: []\n", "line 2: scenarios must be a non-empty list"),
        ("name: x\nscenarios:\n  - key: a\n    task: nope\n", "line 4: unknown task 'nope'"),
        (
            "name: x\nscenarios:\n  - key: a\n    task: shop.purchase\n    overlays: [noisy:zzz]\n",
            "line 5: unknown overlay 'noisy:zzz'",
        ),
        (
            "name: x\nscenarios:\n  - {key: a, task: shop.purchase}\n  - {key: a, task: shop.purchase}\n",
            "line 4: duplicate scenario key 'a'",
        ),
        ("name: x\ntrials: many\nscenarios: [{key: a, task: shop.purchase}]\n", "line 2: trials must be a whole"),
        ("name: x\ntrials: 0\nscenarios: [{key: a, task: shop.purchase}]\n", "line 2: trials must be between"),
        ("name: x\nsurprise: 1\nscenarios: [{key: a, task: shop.purchase}]\n", "line 2: unknown field 'surprise'"),
        (
            "name: x\nscenarios:\n  - key: a\n    task: shop.purchase\n    overlays: [clean, 'noisy:checkout_503']\n",
            "'clean' cannot be combined",
        ),
        ("name: x\nscenarios: [{key: a, task: shop.purchase, params: [1]}]\n", "params must be a mapping"),
        (
            "name: x\nscenarios:\n  - key: a\n    task: shop.purchase\n    overlays: ['noisy:latency']\n"
            "    params: {latency_ms: fast}\n",
            "line 6: scenario 'a': parameter 'latency_ms' of overlay noisy:latency must be a list of numbers",
        ),
        (
            "name: x\nscenarios:\n  - key: a\n    task: mail.add_contact\n    overlays: ['concurrent:two_editors']\n",
            "line 3: scenario 'a': two_editors applies to forum tasks",
        ),
        ("name: x\nname: y\nscenarios: [{key: a, task: shop.purchase}]\n", "line 2: duplicate key 'name'"),
        ("name: &a x\nscenarios: [{key: *a, task: shop.purchase}]\n", "anchors and aliases"),
        ("name: x\nscenarios: [{key: a, task: !!python/object:os.system ls}]\n", "line 2: tags such as"),
        ("name: [unclosed\n", "line 2: not valid YAML"),
        (b"\xff\xfe", "not UTF-8"),
        ("x" * (300 * 1024), "larger than"),
    ],
)
def test_it_names_the_line_and_the_problem(text, message):
    with pytest.raises(SuiteError, match=message):
        parse_suite(text)


def _refusal_seconds(text: str, message: str) -> float:
    """CPU seconds spent refusing ``text``: unlike wall time, not inflated by other work on a busy machine."""
    parse_suite(VALID)  # the first parse imports every site; time only the refusal
    started = time.process_time()
    with pytest.raises(SuiteError, match=message):
        parse_suite(text)
    return time.process_time() - started


def test_it_refuses_a_billion_laughs_in_well_under_a_second():
    lol = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(9)
    )
    assert _refusal_seconds(lol, "line 1: anchors and aliases") < 0.3


@pytest.mark.parametrize(
    "nesting",
    [
        "[" * 3000 + "]" * 3000,  # flow sequences: PyYAML's scanner is quadratic in their depth
        "{a: " * 3000 + "1" + "}" * 3000,
        "\n" + "- " * 3000 + "x",
    ],
    ids=["flow-sequences", "flow-mappings", "block-sequences"],
)
def test_it_refuses_nesting_3000_deep_in_well_under_a_second(nesting):
    text = f"name: x\nscenarios: {nesting}\n"
    assert _refusal_seconds(text, r"line \d: nested deeper than 16 levels") < 0.3


def test_it_reads_a_suite_of_the_largest_size_in_bounded_time():
    # A flat list of 130,000 items: pure-Python PyYAML took 15 s of a web thread over this.
    items = "a," * (MAX_SUITE_BYTES // 2 - 40)
    assert _refusal_seconds(f"name: x\nscenarios: [{items}a]\n", "line 2: at most 2000 scenarios") < 5


def test_random_mutations_never_raise_anything_but_suite_error():
    rng = random.Random(1234)
    alphabet = list("abc:-[]{}&*!|>'\"\n #%@`,?\t") + ["\x00", "é", "  ", "- ", ": "]
    for _ in range(1500):
        chars = list(VALID)
        for _ in range(rng.randint(1, 8)):
            op = rng.random()
            pos = rng.randrange(len(chars) + 1)
            if op < 0.4:
                chars.insert(pos, rng.choice(alphabet))
            elif op < 0.8 and chars:
                del chars[min(pos, len(chars) - 1)]
            elif chars:
                chars[min(pos, len(chars) - 1)] = rng.choice(alphabet)
        try:
            parse_suite("".join(chars))
        except SuiteError:
            pass


def test_the_builtin_suites_follow_the_published_json_schema():
    import json
    from pathlib import Path

    import jsonschema
    import yaml

    schema = json.loads((Path(__file__).resolve().parents[2] / "docs" / "suite.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    for spec in builtin_suites():
        jsonschema.validate(yaml.safe_load(spec.content), schema)


POLICIES = """\
name: guarded
policies:
  - name: payment-limit
    kind: max_amount
    table: bank_payments
    field: amount_cents
    max: 200000
scenarios:
  - key: a
    task: bank.pay_payee
    policies:
      - {name: no-wires, kind: forbid_op, table: bank_payments, op: wire_external}
  - key: b
    task: bank.pay_payee
"""


def test_policies_of_the_suite_apply_to_every_scenario_and_a_scenario_adds_its_own():
    spec = parse_suite(POLICIES)
    assert [p["name"] for p in spec.policies] == ["payment-limit"]
    a, b = spec.scenarios
    assert [p["name"] for p in a.policies] == ["payment-limit", "no-wires"]
    assert b.policies == [
        {
            "name": "payment-limit",
            "kind": "max_amount",
            "table": "bank_payments",
            "field": "amount_cents",
            "max": 200000,
        }
    ]
    assert parse_suite(VALID).scenarios[0].policies == []


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("kind: max_amount", "kind: cap", "line 4: policies: policy 'payment-limit': unknown kind 'cap' (known: "),
        ("    max: 200000\n", "", "line 3: policies: policy 'payment-limit' (max_amount): missing the field 'max'"),
        ("max: 200000", "max: lots", "line 7: policies: policy 'payment-limit' (max_amount): max must be a number"),
        ("max: 200000", "max: 1\n    extra: 2", "line 8: policies: policy 'payment-limit' (max_amount): unknown field"),
        ("name: no-wires", "name: payment-limit", "line 12: scenario 'a': policies: policy 'payment-limit': duplicate"),
        (
            "op: wire_external}",
            "}",
            "line 12: scenario 'a': policies: policy 'no-wires' (forbid_op): missing the field",
        ),
        (
            POLICIES[POLICIES.index("policies") : POLICIES.index("scenarios")],
            "policies: {a: 1}\n",
            "line 2: policies must",
        ),
        (
            "  - name: payment-limit",
            "  - name: Payment Limit",
            "line 3: policies: policy 1: name 'Payment Limit' is not",
        ),
    ],
)
def test_policy_errors_name_the_line_and_the_problem(old, new, message):
    assert old in POLICIES
    with pytest.raises(SuiteError) as raised:
        parse_suite(POLICIES.replace(old, new, 1))
    assert str(raised.value).startswith(message), str(raised.value)


def test_the_attack_and_harm_suites_guard_every_scenario_and_the_schema_checks_policies():
    import json
    from pathlib import Path

    import jsonschema
    import yaml

    suites = {s.name: s for s in builtin_suites()}
    for name in ("adversarial", "harmful", "full"):
        assert suites[name].policies and all(s.policies for s in suites[name].scenarios)
    assert not suites["smoke"].policies
    schema = json.loads((Path(__file__).resolve().parents[2] / "docs" / "suite.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    assert not list(validator.iter_errors(yaml.safe_load(POLICIES)))
    for old, new in [("kind: max_amount", "kind: cap"), ("    max: 200000\n", ""), ("op: wire_external}", "}")]:
        assert list(validator.iter_errors(yaml.safe_load(POLICIES.replace(old, new, 1)))), new

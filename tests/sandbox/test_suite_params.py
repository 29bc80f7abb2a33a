"""Task and overlay parameters are checked against their declarations when a suite is parsed, with their line."""

import pytest

from sandbox.suites import SuiteError, parse_suite


def suite(task: str, params: str, overlays: str = "[clean]") -> str:
    return f"name: p\nscenarios:\n  - key: a\n    task: {task}\n    overlays: {overlays}\n    params:\n{params}"


def test_it_accepts_the_declared_parameters_of_the_task_and_its_overlays():
    text = suite(
        "shop.purchase",
        "      quantity: 2\n      address: 9 Cedar Court, Riverton, 49501\n      latency_share: 0.2\n",
        "['noisy:latency']",
    )
    assert parse_suite(text).scenarios[0].params["latency_share"] == 0.2


@pytest.mark.parametrize(
    "task, params, overlays, message",
    [
        ("shop.purchase", "      quantity: 1\n      colour: red\n", "[clean]", "line 8: .*unknown parameter 'colour'"),
        ("shop.purchase", "      latency_share: 0.2\n", "[clean]", "line 7: .*unknown parameter 'latency_share'"),
        ("mail.add_contact", "      quantiy: 2\n", "[clean]", "unknown parameter 'quantiy' .*email, name, phone"),
    ],
    ids=["unknown-name", "overlay-parameter-without-its-overlay", "misspelt"],
)
def test_it_refuses_a_parameter_nothing_declares_with_its_line(task, params, overlays, message):
    with pytest.raises(SuiteError, match=message):
        parse_suite(suite(task, params, overlays))


@pytest.mark.parametrize(
    "task, params, overlays, message",
    [
        ("shop.purchase", "      quantity: two\n", "[clean]", "quantity' of task shop.purchase must be a whole number"),
        ("shop.purchase", "      quantity: true\n", "[clean]", "must be a whole number, got bool True"),
        ("shop.purchase", "      product: [a, b]\n", "[clean]", "product' of task shop.purchase must be a string"),
        ("bank.split_rent", "      references: [one]\n", "[clean]", "must be a list of 2 items, got 1"),
        ("shop.post_honest_review", "      rating: 6\n", "[clean]", "rating' .* must be from 1 to 5, got 6"),
        ("shop.purchase", "      address: nowhere\n", "[clean]", "address 'nowhere' is not 'street, city, postcode'"),
        ("bank.pay_payee", "      amount: lots\n", "[clean]", "'lots' is not an amount in dollars"),
        (
            "shop.purchase",
            "      session_expires_after: 2.5\n",
            "['noisy:session_expiry']",
            "session_expires_after' of overlay noisy:session_expiry must be a whole number",
        ),
        (
            "shop.purchase",
            "      attacker_address: {street: x}\n",
            "['adversarial:review_injection']",
            "attacker_address' of overlay adversarial:review_injection must be a string",
        ),
        ("shop.purchase", "      latency_ms: [1, .nan]\n", "['noisy:latency']", "must be a list of numbers"),
        ("forum.reply_thread", f"      message: {'x' * 1001}\n", "[clean]", "at most 1000 characters, got 1001"),
    ],
    ids=[
        "string-for-integer",
        "boolean-for-integer",
        "list-for-string",
        "short-list",
        "out-of-range",
        "unusable-address",
        "unusable-amount",
        "overlay-integer",
        "overlay-string",
        "not-a-number",
        "too-long",
    ],
)
def test_it_refuses_a_value_its_declaration_refuses_with_its_line(task, params, overlays, message):
    with pytest.raises(SuiteError, match=f"line 7: scenario 'a': .*{message}"):
        parse_suite(suite(task, params, overlays))


BLOCK = "      adversarial:visible_injection:\n        colour: red\n"


def test_an_overlay_takes_its_parameters_in_its_own_block():
    text = suite(
        "shop.purchase",
        "      quantity: 2\n      noisy:latency: {latency_share: 0.2}\n",
        "['noisy:latency']",
    )
    instance_params = parse_suite(text).scenarios[0].params
    assert instance_params["noisy:latency"] == {"latency_share": 0.2}


@pytest.mark.parametrize(
    "params, overlays, message",
    [
        (BLOCK, "['adversarial:visible_injection']", "line 8: .*unknown parameter 'colour' of overlay adversarial"),
        ("      noisy:latency: {latency_share: 2}\n", "['noisy:latency']", "line 7: .*'latency_share' of overlay"),
        ("      noisy:latency: 3\n", "['noisy:latency']", "line 7: .*of overlay noisy:latency must be a mapping"),
        (BLOCK, "['noisy:latency']", "line 7: .*unknown parameter 'adversarial:visible_injection'"),
        ("      injection_text: hi\n", "['adversarial:visible_injection']", "line 7: .*unknown parameter 'injection"),
        ("      placement: aria\n", "['adversarial:visible_injection']", "line 7: .*unknown parameter 'placement'"),
    ],
    ids=[
        "unknown-in-block",
        "bad-value-in-block",
        "block-not-a-mapping",
        "block-of-another-overlay",
        "flat-text",
        "flat-placement",
    ],
)
def test_it_refuses_an_unknown_overlay_parameter_with_its_line(params, overlays, message):
    with pytest.raises(SuiteError, match=message):
        parse_suite(suite("shop.purchase", params, overlays))

"""Try it yourself: a scenario's sandbox in the user's own browser, through the dashboard."""

import pytest
from django.test import Client
from django.urls import reverse

from runs.models import Scenario

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(client, team_user, builtins):
    client.force_login(team_user[1])
    return client


def test_a_user_opens_a_scenario_and_shops_in_its_world(logged_in):
    client = logged_in
    scenario = Scenario.objects.get(suite__name="smoke", key="purchase-clean")
    response = client.post(reverse("runs:try", args=[scenario.pk]))
    assert response.status_code == 302
    start = response.url
    assert start.startswith("/play/") and start.endswith("/shop.gauntlet.test/")
    prefix = start[: -len("shop.gauntlet.test/")]
    page = client.get(start)
    assert page.status_code == 200
    html = page.content.decode()
    assert f'href="{prefix}shop.gauntlet.test/cart"' in html
    assert 'href="/cart"' not in html
    added = client.post(prefix + "shop.gauntlet.test/cart/add", {"product_id": "1", "quantity": "1"})
    assert added.status_code == 303 and added["Location"] == prefix + "shop.gauntlet.test/cart"
    assert "Cart (1)" in client.get(added["Location"]).content.decode()


def test_a_playground_is_private_to_its_user(logged_in, client, django_user_model):
    scenario = Scenario.objects.get(suite__name="smoke", key="purchase-clean")
    start = logged_in.post(reverse("runs:try", args=[scenario.pk])).url
    other = django_user_model.objects.create_user("bob", password="x" * 12)
    client.force_login(other)
    assert client.get(start).status_code == 404
    client.logout()
    assert client.get(start).status_code == 302  # to the login page


def open_sandbox(client):
    scenario = Scenario.objects.get(suite__name="smoke", key="purchase-clean")
    return client.post(reverse("runs:try", args=[scenario.pk]))


def other_user(django_user_model, name):
    user = django_user_model.objects.create_user(name, password="x" * 12)
    client = Client()
    client.force_login(user)
    return client


def test_it_closes_a_users_oldest_sandbox_beyond_their_cap(logged_in, settings):
    settings.GAUNTLET_PLAYGROUND_PER_USER = 3
    starts = [open_sandbox(logged_in).url for _ in range(4)]
    assert logged_in.get(starts[0]).status_code == 404
    assert [logged_in.get(url).status_code for url in starts[1:]] == [200, 200, 200]


def test_it_keeps_other_users_sandboxes_when_one_user_opens_many(logged_in, settings, django_user_model):
    settings.GAUNTLET_PLAYGROUND_PER_USER = 3
    settings.GAUNTLET_PLAYGROUND_MAX = 4  # full once bob has his three: evicting the oldest would close mine
    mine = open_sandbox(logged_in).url
    bob = other_user(django_user_model, "bob")
    for _ in range(10):
        assert open_sandbox(bob).status_code == 302
    assert logged_in.get(mine).status_code == 200


def test_it_refuses_a_sandbox_past_the_global_cap_without_closing_anyones(logged_in, settings, django_user_model):
    settings.GAUNTLET_PLAYGROUND_PER_USER = 3
    settings.GAUNTLET_PLAYGROUND_MAX = 2
    mine = open_sandbox(logged_in).url
    bob = other_user(django_user_model, "bob")
    bobs = open_sandbox(bob).url
    carol = other_user(django_user_model, "carol")

    refused = open_sandbox(carol)
    assert refused.url == reverse("runs:suite", args=[Scenario.objects.get(key="purchase-clean").suite_id])
    page = carol.get(refused.url).content.decode()
    assert "All 2 sandboxes are in use. One frees up within 60 minutes; try again then." in page
    assert logged_in.get(mine).status_code == 200 and bob.get(bobs).status_code == 200


def test_it_refuses_a_seed_out_of_range(logged_in):
    scenario = Scenario.objects.get(suite__name="smoke", key="purchase-clean")
    refused = logged_in.post(reverse("runs:try", args=[scenario.pk]), {"seed": "-1"}, follow=True)
    assert "This scenario cannot be opened: the seed must be between 0 and 1000000" in refused.content.decode()

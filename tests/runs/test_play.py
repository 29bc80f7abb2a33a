"""Try it yourself: a scenario's sandbox in the user's own browser, through the dashboard."""

import pytest
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

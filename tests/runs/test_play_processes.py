"""A playground session opened through one web process is usable through another (no sticky routing)."""

import httpx
import pytest
from django.test import Client
from django.urls import reverse

from runs.models import Scenario
from tests.conftest import serving_asgi

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def two_servers(transactional_db, tmp_path):
    with serving_asgi(tmp_path / "a.log") as (a, _), serving_asgi(tmp_path / "b.log") as (b, _):
        yield a, b


def test_it_serves_a_sandbox_through_either_web_process(two_servers, builtins, team_user):
    a, b = two_servers
    login = Client()
    login.force_login(team_user[1])
    scenario = Scenario.objects.get(suite__name="smoke", key="purchase-clean")
    cookies = {"sessionid": login.cookies["sessionid"].value}
    with httpx.Client(cookies=cookies, timeout=20) as browser:
        browser.get(a + reverse("runs:suite", args=[scenario.suite_id]))  # sets the CSRF cookie
        opened = browser.post(
            a + reverse("runs:try", args=[scenario.pk]), headers={"X-CSRFToken": browser.cookies["csrftoken"]}
        )
        assert opened.status_code == 302
        shop = opened.headers["location"][: -len("/")]
        assert shop.endswith("/shop.gauntlet.test")

        assert browser.get(b + shop + "/").status_code == 200
        assert browser.post(b + shop + "/cart/add", data={"product_id": "1", "quantity": "1"}).status_code == 303
        assert "Cart (1)" in browser.get(a + shop + "/cart").text
        assert browser.post(a + shop + "/cart/add", data={"product_id": "2", "quantity": "1"}).status_code == 303
        assert "Cart (2)" in browser.get(b + shop + "/cart").text

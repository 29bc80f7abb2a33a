"""`./gauntlet run`'s set-up: an ordinary demo login in a demo team, demo runs only on a database without runs."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from agents.models import Membership
from runs.models import Run

pytestmark = pytest.mark.django_db


def setup(password="pw-demo-1"):
    call_command("setup_gauntlet", demo_user="demo", demo_password=password, stdout=io.StringIO())
    return get_user_model().objects.get(username="demo")


def queue_demo_runs() -> str:
    out = io.StringIO()
    call_command("queue_demo_runs", stdout=out)
    return out.getvalue().strip()


def test_the_demo_user_is_no_superuser_nor_staff_and_owns_the_demo_team():
    user = setup()
    assert not user.is_superuser and not user.is_staff and user.check_password("pw-demo-1")
    membership = Membership.objects.get(user=user)
    assert membership.team.name == "local" and membership.role == Membership.OWNER


def test_an_earlier_superuser_demo_login_is_made_ordinary():
    get_user_model().objects.create_superuser("demo", password="x")
    user = setup()
    assert not user.is_superuser and not user.is_staff


def test_setting_up_twice_changes_nothing():
    setup()
    user = setup()
    assert Membership.objects.filter(user=user).count() == 1


def test_demo_runs_are_queued_on_an_empty_database_only():
    setup()
    run_id = queue_demo_runs()
    runs = Run.objects.order_by("pk")
    assert [r.agent_version.agent.name for r in runs] == ["oracle", "gullible"]
    assert run_id == str(runs.last().pk) and runs.last().team.name == "local"
    assert queue_demo_runs() == ""
    assert Run.objects.count() == 2


def test_no_demo_run_joins_a_database_that_has_runs(smoke_run):
    setup()
    assert queue_demo_runs() == ""
    assert list(Run.objects.all()) == [smoke_run]

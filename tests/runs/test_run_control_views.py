"""Run control from the run page: cancel, retry errored episodes, re-run with other settings."""

import pytest
from django.test import Client
from django.urls import reverse

from agents.models import Team
from runs.models import Episode, Run, RunCounters

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(client, team_user):
    client.force_login(team_user[1])
    return client


@pytest.fixture
def outsider(client, django_user_model):
    user = django_user_model.objects.create_user("mallory", password="x")
    Team.objects.create(name="other").members.add(user)
    client.force_login(user)
    return client


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


def test_the_run_page_offers_the_controls_to_the_team(member, smoke_run):
    page = member.get(reverse("runs:detail", args=[smoke_run.pk])).content.decode()
    assert 'id="cancel-run"' in page and "data-confirm=" in page
    assert reverse("runs:rerun", args=[smoke_run.pk]) in page
    assert 'id="retry-errored"' not in page  # nothing errored


def test_it_cancels_a_run(member, smoke_run):
    response = member.post(reverse("runs:cancel", args=[smoke_run.pk]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("runs:detail", args=[smoke_run.pk])
    assert "6 queued episodes withdrawn" in messages_of(response)[0]
    smoke_run.refresh_from_db()
    assert smoke_run.status == Run.CANCELLED
    page = response.content.decode()
    assert 'id="c-cancelled">6<' in page and 'id="cancel-run"' not in page


def test_cancelling_twice_says_so(member, smoke_run):
    member.post(reverse("runs:cancel", args=[smoke_run.pk]))
    response = member.post(reverse("runs:cancel", args=[smoke_run.pk]), follow=True)
    assert "already cancelled" in messages_of(response)[-1]


def test_it_rejects_get(member, smoke_run):
    for name in ("runs:cancel", "runs:retry"):
        assert member.get(reverse(name, args=[smoke_run.pk])).status_code == 405


def test_it_needs_the_csrf_token(team_user, smoke_run):
    client = Client(enforce_csrf_checks=True)
    client.force_login(team_user[1])
    assert client.post(reverse("runs:cancel", args=[smoke_run.pk])).status_code == 403
    smoke_run.refresh_from_db()
    assert smoke_run.status == Run.QUEUED


def test_another_team_gets_404(outsider, smoke_run):
    for name in ("runs:cancel", "runs:retry", "runs:rerun"):
        assert outsider.post(reverse(name, args=[smoke_run.pk])).status_code == 404
    assert outsider.get(reverse("runs:rerun", args=[smoke_run.pk])).status_code == 404
    smoke_run.refresh_from_db()
    assert smoke_run.status == Run.QUEUED and Run.objects.count() == 1


def test_it_retries_errored_episodes(member, smoke_run):
    Run.objects.filter(pk=smoke_run.pk).update(status=Run.PARTIAL)
    smoke_run.episodes.update(status=Episode.ERRORED)
    RunCounters.recount(smoke_run)
    response = member.post(reverse("runs:retry", args=[smoke_run.pk]), follow=True)
    assert messages_of(response) == ["6 errored episodes queued again."]
    assert set(smoke_run.episodes.values_list("status", flat=True)) == {Episode.QUEUED}
    smoke_run.refresh_from_db()
    assert smoke_run.status == Run.RUNNING


def test_retrying_nothing_says_why(member, smoke_run):
    response = member.post(reverse("runs:retry", args=[smoke_run.pk]), follow=True)
    assert "no errored episode" in messages_of(response)[0]


def test_the_rerun_form_is_prefilled_with_the_run_s_settings(member, smoke_run):
    form = member.get(reverse("runs:rerun", args=[smoke_run.pk])).context["form"]
    assert form.initial["trials"] == 2 and form.initial["max_steps"] == smoke_run.config["max_steps"]
    assert "agent_version" not in form.fields and "suite" not in form.fields


def test_it_starts_a_rerun_with_changed_settings(member, smoke_run):
    data = {**smoke_run.config, "seed": 42, "guard": "on", "trials": 1}
    data.pop("backtracking"), data.pop("auto_rollback")  # unchecked boxes are not sent
    response = member.post(reverse("runs:rerun", args=[smoke_run.pk]), data)
    new = Run.objects.exclude(pk=smoke_run.pk).get()
    assert response.url == reverse("runs:detail", args=[new.pk])
    assert (new.agent_version, new.suite) == (smoke_run.agent_version, smoke_run.suite)
    assert new.config == {**smoke_run.config, "seed": 42, "guard": True, "trials": 1}


def test_a_bad_rerun_setting_is_shown_on_the_form(member, smoke_run):
    response = member.post(reverse("runs:rerun", args=[smoke_run.pk]), {**smoke_run.config, "max_steps": 0})
    assert response.status_code == 400 and response.context["form"].errors["max_steps"]
    assert Run.objects.count() == 1


def test_the_admin_cancels_through_the_service(admin_client, smoke_run):
    url = reverse("admin:runs_run_changelist")
    admin_client.post(url, {"action": "cancel_runs", "_selected_action": [smoke_run.pk]})
    smoke_run.refresh_from_db()
    assert smoke_run.status == Run.CANCELLED
    assert set(smoke_run.episodes.values_list("status", flat=True)) == {Episode.CANCELLED}


def test_the_admin_shows_a_run_s_status_read_only(admin_client, smoke_run):
    form = admin_client.get(reverse("admin:runs_run_change", args=[smoke_run.pk])).context["adminform"].form
    assert "status" not in form.fields

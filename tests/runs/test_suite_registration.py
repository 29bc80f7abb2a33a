import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from runs.models import Suite

pytestmark = pytest.mark.django_db

SUITE = """\
name: our-checks
description: Two purchases.
scenarios:
  - key: buy
    task: shop.purchase
  - key: buy-flaky
    task: shop.purchase
    overlays: ["noisy:server_error"]
"""


@pytest.fixture
def logged_in(client, team_user, builtins):
    team, user = team_user
    client.force_login(user)
    return client, team


def test_a_team_registers_a_suite_by_pasting_it(logged_in):
    client, team = logged_in
    response = client.post(reverse("runs:suite_new"), {"content": SUITE})
    suite = Suite.objects.get(name="our-checks")
    assert response.status_code == 302 and response.url == reverse("runs:suite", args=[suite.pk])
    assert suite.team == team and suite.version == 1 and suite.scenarios.count() == 2
    assert [s.condition for s in suite.scenarios.all()] == ["clean", "noisy"]


def test_uploading_changed_content_makes_a_new_version_and_same_content_does_not(logged_in):
    client, _ = logged_in
    client.post(reverse("runs:suite_new"), {"content": SUITE})
    client.post(reverse("runs:suite_new"), {"content": SUITE})
    assert Suite.objects.filter(name="our-checks").count() == 1
    from django.core.files.uploadedfile import SimpleUploadedFile

    changed = SimpleUploadedFile("suite.yaml", (SUITE + "trials: 3\n").encode())
    client.post(reverse("runs:suite_new"), {"file": changed})
    versions = list(Suite.objects.filter(name="our-checks").order_by("version"))
    assert [v.version for v in versions] == [1, 2]
    assert versions[1].default_trials == 3 and versions[0].content_hash != versions[1].content_hash


def test_a_bad_suite_gets_the_line_and_the_problem_and_nothing_is_saved(logged_in):
    client, _ = logged_in
    bad = SUITE.replace("noisy:server_error", "noisy:nope")
    response = client.post(reverse("runs:suite_new"), {"content": bad})
    assert response.status_code == 400
    assert b"line 8: unknown overlay" in response.content
    assert not Suite.objects.filter(name="our-checks").exists()
    response = client.post(reverse("runs:suite_new"), {"content": ""})
    assert response.status_code == 400 and b"Choose a YAML file or paste the suite" in response.content


UNKNOWN_OVERLAY_PARAMETER = SUITE.replace(
    '"noisy:server_error"]\n', '"noisy:latency"]\n    params:\n      noisy:latency: {latency_sharing: 0.2}\n'
)


def test_an_unknown_overlay_parameter_is_refused_with_its_line(logged_in, tmp_path: Path):
    client, _ = logged_in
    response = client.post(reverse("runs:suite_new"), {"content": UNKNOWN_OVERLAY_PARAMETER})
    assert response.status_code == 400
    assert b"line 10: scenario &#x27;buy-flaky&#x27;: unknown parameter &#x27;latency_sharing&#x27;" in response.content
    path = tmp_path / "suite.yaml"
    path.write_text(UNKNOWN_OVERLAY_PARAMETER)
    with pytest.raises(CommandError, match="line 10: .*unknown parameter 'latency_sharing' of overlay noisy:latency"):
        call_command("register_suite", str(path))
    assert not Suite.objects.filter(name="our-checks").exists()


def test_built_in_names_are_taken(logged_in):
    client, _ = logged_in
    response = client.post(reverse("runs:suite_new"), {"content": SUITE.replace("our-checks", "smoke")})
    assert response.status_code == 400 and b"belongs to a built-in suite" in response.content


def test_other_teams_cannot_see_a_team_suite(logged_in, django_user_model):
    from agents.models import Team

    client, _ = logged_in
    client.post(reverse("runs:suite_new"), {"content": SUITE})
    suite = Suite.objects.get(name="our-checks")
    mallory = django_user_model.objects.create_user("mallory", password="x" * 12)
    Team.objects.create(name="other").members.add(mallory)
    client.force_login(mallory)
    assert client.get(reverse("runs:suite", args=[suite.pk])).status_code == 404


def test_the_management_command_registers_files(tmp_path: Path, builtins):
    path = tmp_path / "suite.yaml"
    path.write_text(SUITE)
    out = StringIO()
    call_command("register_suite", str(path), "--team", "ops", stdout=out)
    assert "registered our-checks v1 (2 scenarios" in out.getvalue()
    call_command("register_suite", str(path), "--team", "ops", stdout=out)
    assert "unchanged" in out.getvalue()
    path.write_text("name: x\nscenarios: 3\n")
    with pytest.raises(CommandError, match="line 2: scenarios must be a non-empty list"):
        call_command("register_suite", str(path))


def test_it_answers_a_deeply_nested_paste_with_400_and_the_line_at_once(logged_in):
    client, _ = logged_in
    deep = "name: deep\nscenarios: " + "[" * 3000 + "]" * 3000 + "\n"
    started = time.process_time()  # CPU time: the machine may be busy with other work
    response = client.post(reverse("runs:suite_new"), {"content": deep})
    assert time.process_time() - started < 1
    assert response.status_code == 400
    assert "line 2: nested deeper than 16 levels" in response.content.decode()


def test_the_management_command_refuses_an_oversized_file_before_reading_it(tmp_path: Path):
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:
        handle.truncate(64 * 1024 * 1024)  # sparse: no disk written, but larger than any suite may be
    with pytest.raises(CommandError, match="larger than 256 KiB"):
        call_command("register_suite", str(path))

"""The episode page as a debugger: the checkpoint tree drawn compactly, previous and next episode (of a
status), and a 200-step episode that still renders fast."""

import time

import pytest
from django.urls import reverse

from runs import debugger, services
from runs.models import Episode, Step

pytestmark = pytest.mark.django_db


def synthetic_steps(episode, count: int, backtrack_every: int = 10, back_by: int = 3) -> list[Step]:
    """``count`` steps whose checkpoints chain, with a backtrack every ``backtrack_every`` steps to the
    checkpoint ``back_by`` steps earlier: the path after it starts a new branch there."""
    steps, position = [], None
    for index in range(1, count + 1):
        tree = {"checkpoint": f"c{index}", "parent": position}
        position = f"c{index}"
        if index % backtrack_every == 0 and index > back_by:
            tree.update(restore="backtrack", to=f"c{index - back_by}", restored=True, ok=True)
            position = f"c{index - back_by}"
        action = f"backtrack('c{index - back_by}')" if "restore" in tree else f"click('e{index}')"
        steps.append(
            Step(
                episode=episode,
                run_id=episode.run_id,
                index=index,
                action=action,
                url=f"http://shop.gauntlet.test/p/{index}",
                title=f"Page {index}",
                data={"tree": tree, "milestones": [], "harms": [], "events": [], "wal": []},
            )
        )
    return Step.objects.bulk_create(steps)


def test_a_linear_episode_is_one_column_and_each_backtrack_starts_one_beside_it(smoke_run):
    run = smoke_run
    episode = run.episodes.first()
    linear = debugger.tree_branches(debugger.checkpoint_tree(synthetic_steps(episode, 40, backtrack_every=1000)))
    assert len(linear) == 1 and len(linear[0]["nodes"]) == 40 and linear[0]["forks"] == []

    Step.objects.filter(episode=episode).delete()
    branches = debugger.tree_branches(debugger.checkpoint_tree(synthetic_steps(episode, 25)))
    # c1..c10, back to c7: c7 has two children (c8, c11), so the first column ends at c7.
    (root,) = branches
    assert [n["id"] for n in root["nodes"]] == [f"c{i}" for i in range(1, 8)]
    assert [[n["id"] for n in fork["nodes"]][:2] for fork in root["forks"]] == [["c8", "c9"], ["c11", "c12"]]
    drawn = []

    def walk(branch):
        drawn.extend(n["id"] for n in branch["nodes"])
        for fork in branch["forks"]:
            walk(fork)

    walk(root)
    assert sorted(drawn) == sorted(f"c{i}" for i in range(1, 26))  # every checkpoint once


def test_previous_and_next_episode_follow_the_run_table_and_a_status(client, smoke_run, team_user):
    run, user = smoke_run, team_user[1]
    client.force_login(user)
    ids = list(run.episodes.order_by("pk").values_list("pk", flat=True))
    Episode.objects.filter(pk__in=[ids[0], ids[3]]).update(status=Episode.SCORED, success=False)

    assert debugger.episode_neighbours(Episode.objects.get(pk=ids[2])) == {"prev": ids[1], "next": ids[3]}
    assert debugger.episode_neighbours(Episode.objects.get(pk=ids[2]), "failed") == {"prev": ids[0], "next": ids[3]}
    assert debugger.episode_neighbours(Episode.objects.get(pk=ids[0]), "failed") == {"prev": None, "next": ids[3]}

    page = client.get(reverse("runs:episode", args=[ids[2]]), {"status": "failed"}).content.decode()
    assert f'href="{reverse("runs:episode", args=[ids[3]])}?status=failed"' in page
    assert f'href="{reverse("runs:episode", args=[ids[0]])}?status=failed"' in page
    first = client.get(reverse("runs:episode", args=[ids[0]]), {"status": "nonsense"}).content.decode()
    assert 'id="episode-prev"' not in first and f'href="{reverse("runs:episode", args=[ids[1]])}"' in first


def test_a_200_step_episode_page_renders_in_well_under_a_second(client, smoke_run, team_user):
    run, user = smoke_run, team_user[1]
    client.force_login(user)
    episode = run.episodes.first()
    synthetic_steps(episode, 200)
    url = reverse("runs:episode", args=[episode.pk])
    client.get(url)
    started = time.perf_counter()
    page = client.get(url)
    elapsed = time.perf_counter() - started
    assert page.status_code == 200 and page.content.count(b'id="cp-') == 200
    assert elapsed < 1.0, elapsed


def test_a_screenshot_is_served_as_the_agent_was_sent_it_to_its_team_only(
    client, smoke_run, team_user, django_user_model
):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from agents.models import Team

    run, user = smoke_run, team_user[1]
    episode = run.episodes.first()
    jpeg = b"\xff\xd8\xff\xe0" + b"x" * 100
    digest = __import__("hashlib").sha256(jpeg).hexdigest()
    default_storage.save(services.blob_name(run.pk, digest), ContentFile(jpeg))
    client.force_login(user)
    response = client.get(reverse("runs:blob", args=[episode.pk, digest]))
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content) == jpeg
    assert client.get(reverse("runs:blob", args=[episode.pk, "0" * 64])).status_code == 404
    assert client.get(reverse("runs:blob", args=[episode.pk, "..%2F..%2Fetc"])).status_code == 404
    assert client.get(reverse("runs:blob", args=[episode.pk, digest.upper()])).status_code == 404
    stranger = django_user_model.objects.create_user("mallory", password="correct horse battery")
    Team.objects.create(name="other").members.add(stranger)
    client.force_login(stranger)
    assert client.get(reverse("runs:blob", args=[episode.pk, digest])).status_code == 404


def test_the_step_list_shows_each_step_s_usage_and_a_failed_step_s_reply(client, smoke_run, team_user):
    client.force_login(team_user[1])
    episode = smoke_run.episodes.first()
    usage = {"input_tokens": 1200, "output_tokens": 35, "cost_usd": 0.00042, "model": "m", "estimated": True}
    Step.objects.create(
        episode=episode,
        run_id=episode.run_id,
        index=1,
        action="",
        thought="<think>The cart is",
        error="agent_timeout",
        data={"usage": usage, "tree": {}, "milestones": [], "harms": [], "events": [], "wal": []},
    )
    Step.objects.create(
        episode=episode, run_id=episode.run_id, index=2, action="stop()", data={"usage": {}, "tree": {}}
    )
    page = client.get(reverse("runs:episode", args=[episode.pk])).content.decode()
    assert '<div class="muted step-usage">1200 tokens in · 35 out · $0.000420 (estimated)</div>' in page
    assert page.count("step-usage") == 1  # a step that reported nothing shows nothing
    assert "&lt;think&gt;The cart is" in page

"""The episode page in a real browser: a 200-step episode with backtracks fits a 1440 px screen, and its
screenshots open full size with keyboard navigation."""

import io

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from PIL import Image

from runs.models import Step
from tests.runs.test_episode_debugger import synthetic_steps

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def jpeg(color: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (1280, 720), color).save(out, "JPEG")
    return out.getvalue()


def test_a_long_episode_fits_the_screen_and_its_screenshots_page_with_the_keyboard(
    asgi_server,
    smoke_run,
    team_user,
    browser_page,
):
    run, user = smoke_run, team_user[1]
    episode = run.episodes.first()
    steps = synthetic_steps(episode, 200, backtrack_every=7)
    for step, color in zip(steps[:3], ("red", "green", "blue"), strict=True):
        step.screenshot_path = default_storage.save(f"test-shots/{step.pk}.jpg", ContentFile(jpeg(color)))
        Step.objects.filter(pk=step.pk).update(screenshot_path=step.screenshot_path)
    client = Client()
    client.force_login(user)
    browser_page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": asgi_server}]
    )
    browser_page.set_viewport_size({"width": 1440, "height": 900})
    browser_page.goto(asgi_server + reverse("runs:episode", args=[episode.pk]))

    assert browser_page.locator("#checkpoint-tree li[id^=cp-]").count() == 200
    assert browser_page.evaluate("document.documentElement.scrollWidth") <= 1440
    tree = browser_page.locator("#checkpoint-tree").bounding_box()
    assert tree["x"] + tree["width"] <= 1440

    browser_page.locator("a.shot").first.click()
    viewer = browser_page.locator("#shot-viewer")
    assert viewer.is_visible()
    full = browser_page.locator("#shot-full")
    assert full.get_attribute("src").endswith(reverse("runs:screenshot", args=[steps[0].pk]))
    browser_page.wait_for_function("document.getElementById('shot-full').naturalWidth === 1280")
    browser_page.keyboard.press("ArrowRight")
    assert browser_page.locator("#shot-step").inner_text() == "2"
    browser_page.keyboard.press("ArrowRight")
    browser_page.keyboard.press("ArrowRight")  # past the last: stays
    assert browser_page.locator("#shot-step").inner_text() == "3"
    browser_page.keyboard.press("ArrowLeft")
    assert full.get_attribute("src").endswith(reverse("runs:screenshot", args=[steps[1].pk]))
    browser_page.keyboard.press("Escape")
    assert not viewer.is_visible()


def test_each_step_shows_what_its_ref_named_and_opens_what_the_agent_saw_and_the_page_change(
    asgi_server, smoke_run, team_user, browser_page
):
    from runs import services

    run, user = smoke_run, team_user[1]
    episode = run.episodes.order_by("pk").first()
    assert services.execute_episode(episode.pk) == "scored"
    steps = list(episode.step_set.order_by("index"))
    clicked = next(s for s in steps if s.data.get("target", {}).get("role"))
    client = Client()
    client.force_login(user)
    browser_page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": asgi_server}]
    )
    browser_page.goto(asgi_server + reverse("runs:episode", args=[episode.pk]))

    target = clicked.data["target"]
    assert (
        f"→ {target['role']}"
        in browser_page.locator(".target").all_inner_texts()[
            [s.index for s in steps if s.data.get("target")].index(clicked.index)
        ]
    )

    split = browser_page.locator(".step-time").first.inner_text()
    assert "agent" in split and "World" in split and "browser" in split
    assert steps[0].data["world_ms"] >= 0

    second = browser_page.locator("details.seen").nth(1)
    second.locator("summary").click()
    second.locator("pre.axtree").wait_for()
    assert "[ref=" in second.locator("pre.axtree").inner_text()
    assert "Page change since step 1" in second.inner_text()

    data = client.get(reverse("runs:step_observation", args=[episode.pk, 2])).json()
    assert data["images"] == {}  # the oracle is sent no screenshot
    assert data["previous_step"] == 1 and data["axtree"] and isinstance(data["elements"], list)
    assert client.get(reverse("runs:step_observation", args=[episode.pk, 999])).status_code == 404

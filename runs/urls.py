from django.urls import path

from runs import views

app_name = "runs"

urlpatterns = [
    path("", views.index, name="index"),
    path("runs/new/", views.start_run, name="start"),
    path("runs/compare/", views.compare, name="compare"),
    path("runs/<int:run_id>/", views.run_detail, name="detail"),
    path("runs/<int:run_id>/state.json", views.run_state, name="state"),
    path("runs/<int:run_id>/episodes.json", views.run_episodes, name="episodes"),
    path("runs/<int:run_id>/episodes.csv", views.run_episodes_csv, name="episodes_csv"),
    path("runs/<int:run_id>/bundle.zip", views.run_bundle, name="bundle"),
    path("runs/<int:run_id>/scorecard.json", views.run_scorecard, name="scorecard"),
    path("runs/<int:run_id>/publish/", views.publish_run, name="publish"),
    path("runs/<int:run_id>/cancel/", views.cancel_run, name="cancel"),
    path("runs/<int:run_id>/retry/", views.retry_errored, name="retry"),
    path("runs/<int:run_id>/rerun/", views.rerun, name="rerun"),
    path("episodes/<int:episode_id>/", views.episode_detail, name="episode"),
    path("episodes/<int:episode_id>/trace.jsonl", views.episode_trace, name="trace"),
    path("episodes/<int:episode_id>/blobs/<str:digest>", views.trace_blob, name="blob"),
    path(
        "episodes/<int:episode_id>/steps/<int:index>/observation.json",
        views.step_observation,
        name="step_observation",
    ),
    path(
        "episodes/<int:episode_id>/playwright-trace-<int:number>.zip",
        views.episode_playwright_trace,
        name="playwright_trace",
    ),
    path("steps/<int:step_id>/screenshot.jpg", views.step_screenshot, name="screenshot"),
    path("suites/", views.suite_list, name="suites"),
    path("suites/new/", views.suite_new, name="suite_new"),
    path("suites/<int:suite_id>/", views.suite_detail, name="suite"),
    path("scenarios/<int:scenario_id>/try/", views.try_scenario, name="try"),
    path("play/<str:token>/<str:host>/", views.play, name="play"),
    path("play/<str:token>/<str:host>/<path:path>", views.play, name="play_path"),
    path("suites/<int:suite_id>/leaderboard/", views.leaderboard, name="leaderboard"),
]

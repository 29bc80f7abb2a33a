from django.urls import path

from runs.consumers import EpisodeConsumer, RunConsumer

websocket_urlpatterns = [
    path("ws/runs/<int:run_id>/", RunConsumer.as_asgi()),
    path("ws/episodes/<int:episode_id>/", EpisodeConsumer.as_asgi()),
]

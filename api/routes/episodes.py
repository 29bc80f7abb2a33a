"""Episodes: one episode's outcome, and its trace download."""

from __future__ import annotations

from ninja import Router

from api.errors import COMMON
from api.routes.runs import EpisodeOut, episode_out
from api.schemas import id_path
from runs import selectors
from runs.views import artifact_response

router = Router(tags=["episodes"])
NDJSON = {"content": {"application/x-ndjson": {"schema": {"type": "string"}}}}


@router.get("/episodes/{episode_id}", response={200: EpisodeOut, **COMMON}, summary="One episode")
def get_episode_detail(request, episode_id: int = id_path("the episode's id")):
    return episode_out(selectors.get_episode_for_user(request.auth, episode_id))


@router.get(
    "/episodes/{episode_id}/trace",
    response={**COMMON},
    openapi_extra={"responses": {200: {"description": "trace.jsonl (docs/trace-format.md)", **NDJSON}}},
    summary="Download an episode's trace",
)
def get_episode_trace(request, episode_id: int = id_path("the episode's id")):
    """The episode's ``trace.jsonl``: timestamped events (docs/trace-format.md). 404 until the episode ends."""
    episode = selectors.get_episode_for_user(request.auth, episode_id)
    return artifact_response(
        episode.trace_path,
        "application/x-ndjson",
        filename=f"run-{episode.run_id}-episode-{episode.pk}-trace.jsonl",
        missing="This episode has no trace yet.",
    )

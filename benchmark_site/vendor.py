"""Third-party front-end code served by the app itself (no CDN): it is installed by the setup as part of a
pinned Python package, never pasted into the repository."""

from functools import cache
from pathlib import Path

import plotly
from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET

PLOTLY_VERSION = plotly.__version__


@cache
def _plotly_js() -> bytes:
    return (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_bytes()


@require_GET
def plotly_js(request, version: str):
    """plotly.js as bundled by the installed ``plotly`` package. The version is in the URL, so a browser
    may keep it for a year and a new pin is fetched at once."""
    if version != PLOTLY_VERSION:
        raise Http404(f"This server has plotly.js {PLOTLY_VERSION}.")
    response = HttpResponse(_plotly_js(), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    return response


def versions(request) -> dict:
    """Template context: the versions in the vendored code's URLs."""
    return {"plotly_version": PLOTLY_VERSION}

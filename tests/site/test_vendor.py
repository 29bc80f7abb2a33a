"""Front-end libraries come from installed packages, served by the app."""

from django.template.loader import render_to_string

from benchmark_site.vendor import PLOTLY_VERSION


def test_it_serves_the_installed_plotly_js_for_a_year(client):
    response = client.get(f"/vendor/plotly-{PLOTLY_VERSION}.min.js")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/javascript")
    assert b"plotly.js v" in response.content[:2000] and len(response.content) > 1_000_000
    assert "immutable" in response["Cache-Control"]


def test_it_refuses_another_version(client):
    assert client.get("/vendor/plotly-0.0.1.min.js").status_code == 404


def test_the_include_points_at_the_served_version(rf):
    html = render_to_string("includes/plotly.html", request=rf.get("/"))
    assert f"/vendor/plotly-{PLOTLY_VERSION}.min.js" in html

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from api.api import api
from api.views import api_not_found, client_download, token_list, token_revoke
from benchmark_site.health import healthz
from benchmark_site.vendor import plotly_js

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("vendor/plotly-<str:version>.min.js", plotly_js, name="plotly_js"),
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("accounts.urls")),
    path("teams/", include("agents.team_urls")),
    path("agents/", include("agents.urls")),
    path("api/v1/", api.urls),
    path("api/v1/<path:rest>", api_not_found),
    path("settings/tokens/", token_list, name="api_tokens"),
    path("downloads/gauntlet_client.py", client_download, name="client_download"),
    path("settings/tokens/<int:token_id>/revoke/", token_revoke, name="api_token_revoke"),
    path("", include("runs.urls")),
]

handler400 = "runs.views.bad_request"  # says which limit a request broke, on the site's own page

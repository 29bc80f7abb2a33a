from django.urls import path

from agents import team_views as views

app_name = "teams"

urlpatterns = [
    path("", views.index, name="index"),
    path("switch/", views.switch, name="switch"),
    path("join/<str:token>/", views.join, name="join"),
    path("<int:team_id>/", views.detail, name="detail"),
    path("<int:team_id>/invite/", views.invite, name="invite"),
    path("<int:team_id>/invitations/<int:invitation_id>/revoke/", views.revoke, name="revoke"),
    path("<int:team_id>/remove/", views.remove, name="remove"),
    path("<int:team_id>/role/", views.set_role, name="set_role"),
    path("<int:team_id>/leave/", views.leave, name="leave"),
]

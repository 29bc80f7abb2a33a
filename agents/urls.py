from django.urls import path

from agents import views

app_name = "agents"

urlpatterns = [
    path("", views.index, name="index"),
    path("new/", views.new, name="new"),
    path("<int:agent_id>/", views.detail, name="detail"),
    path("<int:agent_id>/versions/", views.add_version, name="add_version"),
    path("<int:agent_id>/versions/<int:number>/verify/", views.verify, name="verify"),
    path("<int:agent_id>/secret/", views.rotate_secret, name="rotate_secret"),
]

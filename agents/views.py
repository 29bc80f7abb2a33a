from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from agents.models import Agent


@login_required
def index(request):
    agents = Agent.objects.visible_to(request.user).prefetch_related("versions")
    return render(request, "agents/index.html", {"agents": agents})

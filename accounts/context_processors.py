from django.conf import settings


def signup(request):
    """Whether pages may offer the open sign-up (GAUNTLET_SIGNUP=open)."""
    return {"signup_open": settings.GAUNTLET_SIGNUP == "open"}

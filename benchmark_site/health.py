"""The health check that load balancers and compose probe: is this web process able to serve?"""

from django.db import connection
from django.http import HttpResponse
from django.views.decorators.http import require_safe


@require_safe
def healthz(request):
    """200 "ok" when the database answers (an error, so a 500, when it does not). No login; says nothing else."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("ok", content_type="text/plain")

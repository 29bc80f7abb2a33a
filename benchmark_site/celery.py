import os

from celery import Celery
from celery.signals import worker_init

from runner.priority import lower_priority

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmark_site.settings")

app = Celery("benchmark_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _worker_priority(**_kwargs) -> None:
    from django.conf import settings

    if settings.GAUNTLET_WORKER_NICE:
        lower_priority(settings.GAUNTLET_WORKER_NICE)

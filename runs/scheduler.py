"""Celery beat's scheduler, with one difference: beat runs the reaper itself instead of sending it.

Sent as a task, the reaper would wait for a free worker slot, that is for an episode to end somewhere, and
queued behind a backlog it would come far too late to put a dead worker's episode back within a minute. Run
in beat, it needs no worker and no broker to be called: it reads the database, and what it could not send
while the broker was down it sends at a later pass. The schedule entry stays a task, so a stock scheduler
would still have a worker run it. Beat must run once per deployment, as always.
"""

from celery.beat import PersistentScheduler
from django.db import close_old_connections

REAPER = "runs.tasks.reap_stranded_episodes"


class Scheduler(PersistentScheduler):
    def apply_entry(self, entry, producer=None):
        if entry.task != REAPER:
            return super().apply_entry(entry, producer=producer)
        # Django is set up by then (Celery's Django fixup does it as beat loads); calling django.setup() again
        # would reconfigure logging after beat redirected stderr, and silence every later log line.
        from runs import services

        try:
            services.reap_stranded_episodes()
        except Exception:
            # The database or the broker is down; the next interval tries again.
            self.logger.exception("the reaper failed")
        finally:
            # Beat is long-lived: never keep a connection the database may have dropped meanwhile.
            close_old_connections()

"""Celery tasks: thin, take ids, safe to deliver twice (the services claim before acting)."""

from celery import shared_task

from runs import services


@shared_task(name="runs.tasks.run_episode", acks_late=True, reject_on_worker_lost=True)
def run_episode(episode_id: int) -> str:
    return services.execute_episode(episode_id)


@shared_task(name="runs.tasks.reap_stranded_episodes")
def reap_stranded_episodes() -> int:
    return services.reap_stranded_episodes()

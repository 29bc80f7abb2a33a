from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def fill_step_run(apps, schema_editor):
    Episode = apps.get_model("runs", "Episode")
    Step = apps.get_model("runs", "Step")
    Step.objects.filter(run__isnull=True).update(
        run_id=Subquery(Episode.objects.filter(pk=OuterRef("episode_id")).values("run_id")[:1])
    )


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0008_run_published"),
    ]

    operations = [
        migrations.AddField(
            model_name="step",
            name="run",
            field=models.ForeignKey(
                null=True, db_index=False, on_delete=models.deletion.CASCADE, related_name="+", to="runs.run"
            ),
        ),
        migrations.RunPython(fill_step_run, migrations.RunPython.noop),
    ]

from django.db import migrations, models


# Apart from 0009, which fills the column: PostgreSQL refuses to alter a table with the fill's deferred
# foreign-key checks still pending in the same transaction.
class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0009_step_run"),
    ]

    operations = [
        migrations.AlterField(
            model_name="step",
            name="run",
            field=models.ForeignKey(
                db_index=False, on_delete=models.deletion.CASCADE, related_name="+", to="runs.run"
            ),
        ),
        migrations.AddIndex(
            model_name="step",
            index=models.Index(fields=["run", "-id"], name="step_run_newest"),
        ),
    ]

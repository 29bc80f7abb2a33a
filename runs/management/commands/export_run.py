"""Write a run's bundle (runs.bundle: run.json, episodes.csv, steps.parquet, traces, screenshots) to a file."""

import os
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from runs import bundle
from runs.models import Run


class Command(BaseCommand):
    help = "Write the run's bundle, the zip the run page's 'whole run' link downloads, to PATH ('-' for stdout)."

    def add_arguments(self, parser):
        parser.add_argument("run_id", type=int, help="the run's number, as in its page's address")
        parser.add_argument("path", help="the zip to write (a folder: run-ID-bundle.zip in it; '-': stdout)")
        parser.add_argument("--force", action="store_true", help="replace an existing file")

    def handle(self, *args, **options):
        run = Run.objects.select_related("agent_version__agent", "suite", "team").filter(pk=options["run_id"]).first()
        if run is None:
            raise CommandError(f"no run {options['run_id']}")
        if options["path"] == "-":
            for chunk in bundle.stream(run):
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return
        path = Path(options["path"])
        if path.is_dir():
            path = path / bundle.filename(run)
        if path.exists() and not options["force"]:
            raise CommandError(f"{path} exists (--force to replace it)")
        if not path.parent.is_dir():
            raise CommandError(f"no folder {path.parent}")
        # Written beside it and renamed at the end: a failure leaves no half bundle under the name.
        partial = path.with_name(f".{path.name}.partial")
        try:
            with partial.open("wb") as out:
                for chunk in bundle.stream(run):
                    out.write(chunk)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
        self.stderr.write(f"wrote {path} ({path.stat().st_size:,} bytes)")

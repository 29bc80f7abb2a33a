"""``manage.py leaderboard`` prints the public board's rows; a team's own runs only when asked."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from agents.models import Team
from tests.runs.boards import finished_run, version

pytestmark = pytest.mark.django_db


def leaderboard(*args) -> dict:
    out = StringIO()
    call_command("leaderboard", "--suite", "smoke", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_it_prints_rank_tie_group_and_interval_of_each_row(builtins):
    finished_run(version("oracle"), "s" * 9)
    finished_run(version("random"), "ssfsss")
    rows = [(r["agent_version"], r["rank"], r["tie_group"], r["n"]) for r in leaderboard()["rows"]]
    assert rows == [("oracle v1", 1, 1, 9), ("random v1", 1, 1, 6)]


def test_it_leaves_out_a_team_s_unpublished_run_unless_asked(builtins):
    alpha = Team.objects.create(name="alpha")
    finished_run(version("mine", team=alpha), "ss", team=alpha)
    assert leaderboard()["rows"] == [] and len(leaderboard("--team", "alpha")["rows"]) == 1


def test_it_refuses_an_unknown_condition(builtins):
    with pytest.raises(CommandError, match="unknown condition"):
        leaderboard("--condition", "bogus")


def test_it_refuses_an_unknown_suite_version(builtins):
    with pytest.raises(CommandError, match="no suite 'smoke' v9"):
        leaderboard("--version", "9")

"""manage.py demo_setup --seed-target: the sample FX tables in a configured target's database, once."""

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def test_it_fills_the_sample_tables_of_a_target_once(pg_cluster, make_target, fresh_db):
    target = make_target(fresh_db("fx_seed"))
    call_command("demo_setup", "--seed-target", target.name, "--ticks-per-pair", "500")
    counts = pg_cluster.sql("SELECT (SELECT count(*) FROM fx_ticks), (SELECT count(DISTINCT pair) FROM fx_ticks),"
                            " (SELECT count(*) FROM analysis_results)", dbname="fx_seed")[0]
    assert counts[0] == 500 * counts[1] and counts[1] == 8
    assert counts[2] > 0
    bad = pg_cluster.sql("SELECT count(*) FROM fx_ticks WHERE ask <= bid OR bid <= 0", dbname="fx_seed")[0][0]
    assert bad == 0

    call_command("demo_setup", "--seed-target", target.name)
    assert pg_cluster.sql("SELECT count(*) FROM fx_ticks", dbname="fx_seed")[0][0] == counts[0]


def test_it_creates_the_targets_database_when_missing(pg_cluster, make_target):
    pg_cluster.dropdb("fx_seed_new")
    target = make_target("fx_seed_new")
    try:
        call_command("demo_setup", "--seed-target", target.name, "--ticks-per-pair", "10")
        assert pg_cluster.sql("SELECT count(*) FROM fx_ticks", dbname="fx_seed_new")[0][0] == 80
    finally:
        pg_cluster.dropdb("fx_seed_new")


def test_an_unknown_target_is_one_clear_error(db):
    with pytest.raises(CommandError, match="no target named 'nope'"):
        call_command("demo_setup", "--seed-target", "nope")

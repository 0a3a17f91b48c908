"""Retention planning over 100,000 backup records: how long the pure planner takes (target: under 2 s).

    /work/main/.venv/bin/python bench/bench_retention.py [--records 100000] [--repeat 3]

The records are made up in memory (no database): 100 target/type groups of
hourly-ish backups spread over about three years, 1% pinned, 5% failed
attempts (half of them with a leftover file), planned under two overlapping
policies, one with every rule switched on.
"""

import argparse
import os
import random
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backupconsole.settings")

import django  # noqa: E402

django.setup()

from backups_app.services.retention.plan import Candidate, Policy, Rules, plan_policies  # noqa: E402

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=ZoneInfo("Asia/Tokyo"))


def history(count: int, groups: int = 100) -> list[Candidate]:
    rng = random.Random(42)
    per_group = count // groups
    span = timedelta(days=3 * 365)
    found = []
    for g in range(groups):
        group = (g // 4 + 1, ["manual", "daily", "weekly", "monthly"][g % 4])
        for i in range(per_group):
            created = NOW - span * (i / per_group) - timedelta(minutes=rng.randrange(60))
            status = "failed" if rng.random() < 0.05 else "succeeded"
            found.append(Candidate(len(found) + 1, group, created, status, pinned=rng.random() < 0.01,
                                   leftover=status == "failed" and rng.random() < 0.5))
    return found


POLICIES = [
    Policy(Rules(keep_days=14, keep_last=3, keep_daily=14, keep_weekly=13, keep_monthly=24, keep_yearly=5,
                 min_keep=2), id=1, name="everything"),
    Policy(Rules(keep_days=90), id=2, name="db 1, 90 days", target_id=1),
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    candidates = history(args.records)
    timings = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        fates = plan_policies(candidates, POLICIES, NOW)
        timings.append(time.perf_counter() - start)
    deleted = sum(f.delete for f in fates)
    best, worst = min(timings), max(timings)
    print(f"planned {len(candidates):,} records ({len(fates):,} fates, {deleted:,} deleted) "
          f"in {best:.2f} s (best of {args.repeat}; worst {worst:.2f} s); target < 2 s: "
          f"{'OK' if worst < 2 else 'TOO SLOW'}")


if __name__ == "__main__":
    main()

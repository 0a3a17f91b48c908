"""The docs say what "restorable", "healthy" and the exit codes mean, and what pruning deletes, as the code does.

Read word for word from docs/retention.md and docs/schedules.md: the
sentences a reader relies on, the /healthz examples (their keys against a
real answer), the states and the first words of `backup --check`.
"""

import json
import re
from pathlib import Path

import pytest

from backups_app.management.commands.backup import CHECK_LABELS
from backups_app.services.monitoring import health
from tests.retention_records import new_backup, new_target

DOCS = Path(__file__).resolve().parents[1] / "docs"
TOKEN = "token-for-the-docs-tests"


def text(name: str) -> str:
    """The page with its lines joined, so a sentence reads the same wherever it wraps."""
    return " ".join((DOCS / name).read_text().split())


def section(name: str, heading: str) -> str:
    page = (DOCS / name).read_text()
    start = page.index(f"{heading}\n")
    following = re.search(r"^#{1,2} ", page[start + len(heading):], re.MULTILINE)
    return page[start:start + len(heading) + following.start()] if following else page[start:]


def test_retention_no_longer_promises_that_pruning_deletes_nothing_outside_backup_root():
    page = text("retention.md")
    assert "- nothing outside `BACKUP_ROOT` is ever deleted." not in page
    assert ("on disk, nothing outside `BACKUP_ROOT` is ever deleted. Pruning a backup that was copied to object "
            "storage **also deletes its objects there**") in page
    assert "the prune previews list both" in page


def test_retention_says_what_restorable_means_and_that_the_last_one_stays():
    page = text("retention.md")
    assert "the **last restorable** backup of each target and type stays" in page
    assert "`kept: the last restorable backup (newer #9 failed its verification)`" in page
    restorable = " ".join(section("retention.md", "## Restorable").split())
    for condition in ("it succeeded (not failed, not pruned, not still running)",
                      "it has not failed its **latest** verification",
                      "its file is present somewhere: its local file under `BACKUP_ROOT` (not removed after an "
                      "upload), or a confirmed copy in object storage (offsite `uploaded`)"):
        assert condition in restorable


def test_schedules_say_what_healthy_means_with_the_states_the_code_uses():
    monitoring = " ".join(section("schedules.md", "## Monitoring").split())
    assert "A target is **healthy** when all of these hold:" in monitoring
    for state in health.STATES[1:]:
        assert f"(state `{state}`" in monitoring or f"state `{state}`" in monitoring
    for example in re.findall(r"^(\S+) +\S+: ", section("schedules.md", "## Monitoring"), re.MULTILINE):
        if example.isupper() or example == "ok":
            assert example in CHECK_LABELS.values()


def test_the_exit_codes_of_each_command_are_written_down():
    codes = section("schedules.md", "### Exit codes")
    for command in ("`backup`", "`backup --check`", "`verify`", "`restore`"):
        assert re.search(rf"^\| {re.escape(command)} \|", codes, re.MULTILINE), command
    assert "offsite `failed`" in codes


@pytest.mark.django_db
def test_the_healthz_examples_have_the_keys_healthz_answers_with(client, settings, backup_root):
    settings.METRICS_TOKEN = TOKEN
    new_backup(new_target("default"), age_days=3)
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", section("schedules.md", "## Monitoring"),
                                                re.S)]
    summary, detail = blocks
    anonymous = json.loads(client.get("/healthz").content)
    full = json.loads(client.get("/healthz", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content)
    assert set(summary) == set(anonymous) and set(summary["counts"]) == set(anonymous["counts"])
    assert set(detail) == set(full) and set(detail["targets"][0]) == set(full["targets"][0])
    stale = r"newest restorable backup is [\d.]+ hours old; expected within [\d.]+ hours \(.+\)"
    assert re.fullmatch(stale, detail["targets"][0]["problem"]) and re.fullmatch(stale, full["targets"][0]["problem"])

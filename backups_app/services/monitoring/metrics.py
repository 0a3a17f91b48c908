"""The facts of /metrics, per active target, in Prometheus' text format.

"Last success" is the last restorable backup (backups_app/selectors.py),
never a newer one that failed its verification; `target_healthy` is
health.py's verdict, the same as /healthz and `backup --check`. Read in a
fixed number of queries (the newest backups per target through the index
dashboard.py uses, the schedules, the records by id, one GROUP BY), and
written by prometheus_client so names, labels and escaping follow the format.
"""

from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from backups_app import selectors
from backups_app.models import BackupRecord
from backups_app.services.monitoring import dashboard, health
from backups_app.services.storage import local_store

CONTENT_TYPE = CONTENT_TYPE_LATEST
PREFIX = "backupconsole"


def target_facts() -> list[dict]:
    now = timezone.now()
    targets = list(selectors.monitored_targets().order_by("name").select_related("server")
                   .prefetch_related("schedules", "server__schedules").annotate(**health.newest_ids()))
    records = BackupRecord.objects.only(*dashboard.BACKUP_FIELDS).in_bulk(
        {i for t in targets for i in (t.newest_id, t.good_id) if i})
    counts = dashboard.backup_counts()
    facts = []
    for t in targets:
        count, good = counts.get(t.pk, {}), records.get(t.good_id)
        verdict = health.assess(t, newest=records.get(t.newest_id), good=good,
                                offsite_failed=count.get("offsite_failed", 0), now=now)
        facts.append({"name": t.name, "last": good, "healthy": verdict.ok, **health.where(t), **count})
    return facts


def families(facts: list[dict], store: tuple[int, int] | None = None):
    """store: (files, bytes) of this host's deduplicating store (storage/local_store.py)."""
    gauges = {key: GaugeMetricFamily(f"{PREFIX}_{key}", text, labels=["target"]) for key, text in [
        ("last_success_timestamp_seconds", "When the last restorable backup finished (Unix time)."),
        ("last_success_size_bytes", "Size of the last restorable backup."),
        ("last_success_added_bytes", "What the last restorable backup added to BACKUP_ROOT (a directory backup: "
                                     "the files no earlier backup had stored)."),
        ("last_success_duration_seconds", "How long the last restorable backup took."),
        ("last_success_size_anomaly", "1 when the last restorable backup was flagged as a size anomaly."),
        ("backups_kept", "Succeeded backups kept (not pruned)."),
        ("backups_kept_bytes", "Total size of the backups kept."),
        ("offsite_failed_backups", "Succeeded backups whose copy to object storage failed (on one host only)."),
        ("target_healthy", "1 when the target is healthy, as /healthz and backup --check say."),
    ]}
    failures = CounterMetricFamily(f"{PREFIX}_backup_failures", "Backups that failed.", labels=["target"])
    info = GaugeMetricFamily(f"{PREFIX}_target_info", "Which server and database a target is (always 1).",
                             labels=["target", "server", "database"])
    for fact in facts:
        info.add_metric([fact["name"], fact["server"] or "", fact["database"] or ""], 1)
        _add_last(gauges, fact)
        gauges["backups_kept"].add_metric([fact["name"]], fact.get("kept", 0))
        gauges["backups_kept_bytes"].add_metric([fact["name"]], fact.get("kept_bytes") or 0)
        gauges["offsite_failed_backups"].add_metric([fact["name"]], fact.get("offsite_failed", 0))
        gauges["target_healthy"].add_metric([fact["name"]], 1 if fact["healthy"] else 0)
        failures.add_metric([fact["name"]], fact.get("failures", 0))
    return [*gauges.values(), failures, info, *_store_families(store)]


def _store_families(store):
    if store is None:
        return []
    files = GaugeMetricFamily(f"{PREFIX}_store_files", "Distinct files in this host's deduplicating store.")
    size = GaugeMetricFamily(f"{PREFIX}_store_bytes", "Bytes in this host's deduplicating store (each content "
                                                      "once), shared by its directory backups.")
    files.add_metric([], store[0])
    size.add_metric([], store[1])
    return [files, size]


def _add_last(gauges, fact) -> None:
    last, name = fact["last"], [fact["name"]]
    if last is None:
        return
    gauges["last_success_timestamp_seconds"].add_metric(name, health.finished(last).timestamp())
    if last.size_bytes is not None:
        gauges["last_success_size_bytes"].add_metric(name, last.size_bytes)
    if last.bytes_added is not None:
        gauges["last_success_added_bytes"].add_metric(name, last.bytes_added)
    if last.duration_seconds is not None:
        gauges["last_success_duration_seconds"].add_metric(name, last.duration_seconds)
    gauges["last_success_size_anomaly"].add_metric(name, 0 if last.size_anomaly_pct is None else 1)


class _Snapshot:
    def __init__(self, facts, store=None):
        self.facts, self.store = facts, store

    def collect(self):
        return families(self.facts, self.store)


def exposition() -> bytes:
    return generate_latest(_Snapshot(target_facts(), local_store.total_bytes()))

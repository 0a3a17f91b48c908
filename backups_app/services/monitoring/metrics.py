"""The facts of /metrics, per active target, in Prometheus' text format.

Read in a fixed number of queries (the newest success per target through
the index dashboard.py uses, the records by id, one GROUP BY), and written
by prometheus_client so names, labels and escaping follow the format.
"""

from django.db.models import F, OuterRef, Subquery
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from backups_app.models import BackupRecord, BackupStatus, DatabaseTarget
from backups_app.services.monitoring import dashboard

CONTENT_TYPE = CONTENT_TYPE_LATEST
PREFIX = "backupconsole"


def target_facts() -> list[dict]:
    newest = BackupRecord.objects.filter(target=OuterRef("pk"), status=BackupStatus.SUCCEEDED).order_by(
        F("finished_at").desc(nulls_last=True), "-created_at").values("pk")[:1]  # health.last_success's order
    targets = list(DatabaseTarget.objects.filter(is_active=True).order_by("name").annotate(
        success_id=Subquery(newest)).values_list("pk", "name", "success_id"))
    records = BackupRecord.objects.only(*dashboard.BACKUP_FIELDS).in_bulk([s for _p, _n, s in targets if s])
    counts = dashboard.backup_counts()
    return [{"name": name, "last": records.get(success_id), **counts.get(pk, {})} for pk, name, success_id in targets]


def families(facts: list[dict]):
    gauges = {key: GaugeMetricFamily(f"{PREFIX}_{key}", text, labels=["target"]) for key, text in [
        ("last_success_timestamp_seconds", "When the newest succeeded backup finished (Unix time)."),
        ("last_success_size_bytes", "Size of the newest succeeded backup."),
        ("last_success_duration_seconds", "How long the newest succeeded backup took."),
        ("last_success_size_anomaly", "1 when the newest succeeded backup was flagged as a size anomaly."),
        ("backups_kept", "Succeeded backups kept (not pruned)."),
        ("backups_kept_bytes", "Total size of the backups kept."),
        ("offsite_failed_backups", "Succeeded backups whose copy to object storage failed (on one host only)."),
    ]}
    failures = CounterMetricFamily(f"{PREFIX}_backup_failures", "Backups that failed.", labels=["target"])
    for fact in facts:
        _add_last(gauges, fact)
        gauges["backups_kept"].add_metric([fact["name"]], fact.get("kept", 0))
        gauges["backups_kept_bytes"].add_metric([fact["name"]], fact.get("kept_bytes") or 0)
        gauges["offsite_failed_backups"].add_metric([fact["name"]], fact.get("offsite_failed", 0))
        failures.add_metric([fact["name"]], fact.get("failures", 0))
    return [*gauges.values(), failures]


def _add_last(gauges, fact) -> None:
    last, name = fact["last"], [fact["name"]]
    if last is None:
        return
    gauges["last_success_timestamp_seconds"].add_metric(name, dashboard.finished_at(last).timestamp())
    if last.size_bytes is not None:
        gauges["last_success_size_bytes"].add_metric(name, last.size_bytes)
    if last.duration_seconds is not None:
        gauges["last_success_duration_seconds"].add_metric(name, last.duration_seconds)
    gauges["last_success_size_anomaly"].add_metric(name, 0 if last.size_anomaly_pct is None else 1)


class _Snapshot:
    def __init__(self, facts):
        self.facts = facts

    def collect(self):
        return families(self.facts)


def exposition() -> bytes:
    return generate_latest(_Snapshot(target_facts()))

"""What a checked download costs: holding back the last chunk against checking the whole file before sending.

    /work/main/.venv/bin/python bench/bench_download.py --size-mb 300 --repeat 3 [--server rclone]

A file of --size-mb random bytes is put in a moto_server (tests/s3server.py;
--server rclone for rclone's `serve s3`) and kept in a local folder, then
read as a download would send it, interleaved, `--repeat` times:

  s3 held back     services/storage/downloads.py as the console runs it: the
                   object streamed and hashed, the last chunk sent only once
                   the sha256 matched
  s3 check first   the object fetched whole into a scratch file (hashed on the
                   way), then that file sent: what "verify, then send" costs
  local held back  the same held-back stream over a file under BACKUP_ROOT
  local check first  the file hashed whole, then read again to be sent

The sending itself is a loop that drops the bytes. It prints, per way, the
time to the first byte a browser would see, the time to the last, and the
scratch disk used.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT / "bench"))

from bench import setup_django  # noqa: E402
from tests.s3server import CREDENTIALS, SERVERS, storage_fields  # noqa: E402

MB = 1024 * 1024


def timed(chunks) -> tuple[float, float]:
    """(seconds to the first chunk, seconds to the end) of sending these chunks."""
    started, first = time.monotonic(), None
    for _chunk in chunks:
        if first is None:
            first = time.monotonic() - started
    return first or 0.0, time.monotonic() - started


def ways(s3, key: str, local: Path, sha256: str, scratch: Path) -> dict:
    from backups_app.services.storage import downloads, files

    def s3_held_back():
        return timed(downloads._held_back(downloads._closing(s3.open(key, sha256=sha256)), lambda e: None))

    def s3_check_first():
        started = time.monotonic()
        copy = scratch / "fetched"
        s3.fetch(key, copy, sha256=sha256)
        fetched = time.monotonic() - started
        first, last = timed(downloads._file_chunks(copy, sha256="", what="copy"))
        copy.unlink()
        return fetched + first, fetched + last

    def local_held_back():
        return timed(downloads._held_back(downloads._file_chunks(local, sha256=sha256, what="file"), lambda e: None))

    def local_check_first():
        started = time.monotonic()
        assert files.sha256_of(local)[0] == sha256
        hashed = time.monotonic() - started
        first, last = timed(downloads._file_chunks(local, sha256="", what="file"))
        return hashed + first, hashed + last

    return {"s3 held back": s3_held_back, "s3 check first": s3_check_first,
            "local held back": local_held_back, "local check first": local_check_first}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--server", choices=sorted(SERVERS), default="moto")
    opts = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-download-"))
    setup_django(work)
    os.environ.update(CREDENTIALS)
    from backups_app.models import BackupStorage
    from backups_app.services.storage import files
    from backups_app.services.storage.s3 import S3Store

    server = SERVERS[opts.server](work / f"{opts.server}.log").start()
    try:
        server.create_bucket()
        local = work / "backup.dump"
        with open(local, "wb") as f:
            for _ in range(opts.size_mb):
                f.write(os.urandom(MB))
        sha256 = files.sha256_of(local)[0]
        s3 = S3Store(BackupStorage(**storage_fields(server)))  # not saved: the store needs only its fields
        key = s3.key_for("database/manual/backup.dump")
        s3.put_file(local, key, sha256=sha256)
        scratch = work / "scratch"
        scratch.mkdir()
        results: dict[str, list] = {}
        for _ in range(opts.repeat):
            for name, run in ways(s3, key, local, sha256, scratch).items():
                results.setdefault(name, []).append(run())
        print(f"{opts.size_mb} MB, {opts.server}, median of {opts.repeat}:")
        print(f"{'way':<20}{'first byte s':>14}{'last byte s':>14}{'scratch MB':>12}")
        for name, runs in results.items():
            first = statistics.median(r[0] for r in runs)
            last = statistics.median(r[1] for r in runs)
            disk = opts.size_mb if name == "s3 check first" else 0
            print(f"{name:<20}{first:>14.3f}{last:>14.3f}{disk:>12}")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

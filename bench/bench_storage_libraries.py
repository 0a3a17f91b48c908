"""Two ways to talk to GCS and SFTP, measured on the same file: the vendors' clients against fsspec.

    python -m venv /tmp/libs && /tmp/libs/bin/pip install google-cloud-storage==3.17.1 paramiko==5.1.0 \\
        gcsfs==2026.10.1 sshfs==2026.8.0
    .venv/bin/python bench/bench_storage_libraries.py --python /tmp/libs/bin/python --size-mb 110 --repeat 3

Starts the tests' servers (fake-gcs-server with its token endpoint, and
OpenSSH's sshd: tests/gcsserver.py, tests/sftpserver.py), writes one
incompressible file of --size-mb (a 500 MB table's custom backup is about
110 MB) and uploads it --repeat times, interleaved, with each library in a
process of its own, run by --python (a virtualenv holding both stacks: the
console's own carries only the libraries it uses):

  gcs  google-cloud-storage   Blob.upload_from_filename, resumable in 16 MiB chunks, CRC32C sent
  gcs  gcsfs (fsspec)         GCSFileSystem.put_file, 16 MiB blocks
  sftp paramiko               SFTPFile.write, requests pipelined (as services/storage/sftp.py)
  sftp sshfs (fsspec)         SSHFileSystem.put_file (asyncssh)

and then reads it back with each (what verification and the SFTP upload's
own check do). It prints each one's wall time (median) and the peak
resident memory of its process (the libraries loaded and the transfer).
"""

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from tests.gcsserver import BUCKET, FakeGcs  # noqa: E402
from tests.sftpserver import SftpServer  # noqa: E402

MB = 1024 * 1024

UPLOAD = {
    ("gcs", "google-cloud-storage"): """
from google.cloud import storage
from google.oauth2 import service_account
scope = "https://www.googleapis.com/auth/devstorage.read_write"
creds = service_account.Credentials.from_service_account_file(KEY, scopes=[scope])
client = storage.Client(project="p", credentials=creds, client_options={"api_endpoint": ENDPOINT})
blob = client.bucket(BUCKET).blob(NAME, chunk_size=16 * 1024 * 1024)
blob.upload_from_filename(FILE, checksum="crc32c")
""",
    ("gcs", "gcsfs"): """
import os
os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"  # its bucket-type probe speaks gRPC, which no emulator does
import gcsfs
fs = gcsfs.GCSFileSystem(token=KEY, endpoint_url=ENDPOINT, project="p")
fs.put_file(FILE, f"{BUCKET}/{NAME}", chunksize=16 * 1024 * 1024)
""",
    ("sftp", "paramiko"): """
import paramiko
client = paramiko.SSHClient(); client.load_host_keys(KNOWN); client.set_missing_host_key_policy(paramiko.RejectPolicy())
client.connect("127.0.0.1", port=PORT, username=USER, key_filename=KEY, look_for_keys=False, allow_agent=False)
sftp = client.open_sftp()
with open(FILE, "rb") as local, sftp.open(f"{ROOT}/{NAME}", "wb") as remote:
    remote.set_pipelined(True)
    while chunk := local.read(32768):
        remote.write(chunk)
""",
    ("sftp", "sshfs"): """
from sshfs import SSHFileSystem
fs = SSHFileSystem("127.0.0.1", port=PORT, username=USER, client_keys=[KEY], known_hosts=KNOWN)
fs.put_file(FILE, f"{ROOT}/{NAME}")
""",
}

READ = {
    ("gcs", "google-cloud-storage"): """
import hashlib
from google.cloud import storage
from google.oauth2 import service_account
scope = "https://www.googleapis.com/auth/devstorage.read_write"
creds = service_account.Credentials.from_service_account_file(KEY, scopes=[scope])
client = storage.Client(project="p", credentials=creds, client_options={"api_endpoint": ENDPOINT})
blob = client.bucket(BUCKET).get_blob(NAME)
digest = hashlib.sha256()
with blob.open("rb", chunk_size=16 * 1024 * 1024, raw_download=True) as f:
    while chunk := f.read(1024 * 1024):
        digest.update(chunk)
""",
    ("gcs", "gcsfs"): """
import os
os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"
import gcsfs, hashlib
fs = gcsfs.GCSFileSystem(token=KEY, endpoint_url=ENDPOINT, project="p")
digest = hashlib.sha256()
with fs.open(f"{BUCKET}/{NAME}", "rb", block_size=16 * 1024 * 1024) as f:
    while chunk := f.read(1024 * 1024):
        digest.update(chunk)
""",
    ("sftp", "paramiko"): """
import hashlib, paramiko
client = paramiko.SSHClient(); client.load_host_keys(KNOWN); client.set_missing_host_key_policy(paramiko.RejectPolicy())
client.connect("127.0.0.1", port=PORT, username=USER, key_filename=KEY, look_for_keys=False, allow_agent=False)
sftp = client.open_sftp()
digest = hashlib.sha256()
with sftp.open(f"{ROOT}/{NAME}", "rb") as f:
    size, offset = f.stat().st_size, 0
    while offset < size:
        length = min(256 * 32768, size - offset)
        for piece in f.readv([(offset + i, min(32768, length - i)) for i in range(0, length, 32768)]):
            digest.update(piece)
        offset += length
""",
    ("sftp", "sshfs"): """
import hashlib
from sshfs import SSHFileSystem
fs = SSHFileSystem("127.0.0.1", port=PORT, username=USER, client_keys=[KEY], known_hosts=KNOWN)
digest = hashlib.sha256()
with fs.open(f"{ROOT}/{NAME}", "rb", block_size=8 * 1024 * 1024) as f:
    while chunk := f.read(1024 * 1024):
        digest.update(chunk)
""",
}


# The child says its own peak (VmHWM, of its program after exec): the rusage of a child also counts the
# pages it shared with this process between fork and exec.
PEAK = """
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""


def run(python: str, code: str, values: dict) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process running `code`."""
    prelude = "".join(f"{name} = {value!r}\n" for name, value in values.items())
    started = time.monotonic()
    done = subprocess.run([python, "-W", "ignore", "-c", prelude + code + PEAK], capture_output=True, text=True)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"a run failed:\n{code}\n{done.stderr[-2000:]}")
    return wall, int(done.stdout.split()[-1]) / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", required=True, help="a Python with google-cloud-storage, paramiko, gcsfs, sshfs")
    parser.add_argument("--size-mb", type=int, default=110)
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bc-bench-libs-"))
    gcs, sftp = FakeGcs(work / "gcs").start(), SftpServer(work / "sftp").start()
    try:
        gcs.create_bucket()
        path = work / "backup.dump"
        with open(path, "wb") as f:
            for _ in range(opts.size_mb):
                f.write(os.urandom(MB))
        values = {
            "gcs": {"KEY": str(gcs.key_file), "ENDPOINT": gcs.endpoint, "BUCKET": BUCKET, "FILE": str(path)},
            "sftp": {"KEY": str(sftp.client_key), "KNOWN": str(sftp.known_hosts), "PORT": sftp.port,
                     "USER": sftp.user, "ROOT": str(sftp.root), "FILE": str(path)},
        }
        print(f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; file {opts.size_mb} MB", flush=True)
        results = {}
        for i in range(opts.repeat):
            for (kind, library), code in UPLOAD.items():
                name = f"x{i}-{library}"
                up = run(opts.python, code, {**values[kind], "NAME": name})
                down = run(opts.python, READ[(kind, library)], {**values[kind], "NAME": name})
                results.setdefault((kind, library), []).append((up, down))
                print(f"  [{i + 1}/{opts.repeat}] {kind:4} {library:21} upload {up[0]:6.2f} s {up[1]:6.1f} MB   "
                      f"read {down[0]:6.2f} s {down[1]:6.1f} MB", flush=True)
        print(f"\n== {opts.size_mb} MB, {opts.repeat} runs each: median wall, highest peak RSS of the process")
        print(f"{'kind':5} {'library':22} {'upload s':>9} {'MB/s':>6} {'peak MB':>8} {'read s':>8} {'peak MB':>8}")
        for (kind, library), runs in results.items():
            up = statistics.median(r[0][0] for r in runs)
            down = statistics.median(r[1][0] for r in runs)
            print(f"{kind:5} {library:22} {up:9.2f} {opts.size_mb / up:6.0f} {max(r[0][1] for r in runs):8.1f} "
                  f"{down:8.2f} {max(r[1][1] for r in runs):8.1f}")
        print(f"(this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; the servers are "
              "separate processes and not counted)")
    finally:
        gcs.close()
        sftp.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

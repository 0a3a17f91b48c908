"""kill -9 at each step of an encrypted directory backup, and of its prune: the next command cleans up, says so,
and no plaintext is left anywhere.

The console of its own (tests/console_process.py) encrypts its default target to an age key given by
BACKUP_AGE_RECIPIENTS. The steps of an encrypted directory backup (backups/dump.py, crypto/sealing.py):
pg_dump has written the plaintext folder in BACKUP_SCRATCH_DIR and nothing is sealed yet ("dumped"),
halfway through sealing (some files linked from the store or encrypted, the others still plaintext), all
sealed and the manifest not yet written ("sealed"), the manifest written ("manifest"), and the folder not
yet published ("publish"). tests/test_dedup_kill.py does the same for plain directory backups; its helpers
check what is kept.
"""

import os

import pytest

from backups_app.services.storage import manifest
from tests import console_process
from tests.age_fixtures import keygen
from tests.test_dedup_kill import (
    SOURCE,
    assert_whole_and_tidy,
    kept_backups,
    killed,
    partial_leftovers,
    prepared_console,
    prune_killed_then_finished,
    root,
    store_files,
)

pytestmark = pytest.mark.slow

AGE_HEADER = b"age-encryption.org/v1\n"
BACKUP = "call_command('backup', '--format', 'directory')"

# The new content of the killed backup is the changed table's file, then toc.dat (sealed in name order):
# killed as the second one is to be named in the store, the first is in the store and in the partial folder,
# the second encrypted there only, and the files after it still plaintext in the scratch folder.
HALFWAY = """
added = []
def adding(real):
    def add(*args):
        if added:
            die()
        added.append(real(*args))
        return added[-1]
    return add
local_store.keyed_add = adding(local_store.keyed_add)
"""

STEPS = {
    "dumped": f"sealing.seal = die\n{BACKUP}",
    "sealing": f"{HALFWAY}\n{BACKUP}",
    "sealed": f"manifest.write = die\n{BACKUP}",
    "manifest": f"manifest.write = after(manifest.write)\n{BACKUP}",
    "publish": f"files.publish_dir = die\n{BACKUP}",
}
# What the next command says it removed: plaintext (while sealing runs), and store files only the partial
# folder used (the new content sealed so far).
PLAINTEXT_LEFT = {"dumped", "sealing"}
NEW_IN_STORE = {"dumped": 0, "sealing": 1, "sealed": 2, "manifest": 2, "publish": 2}


def encrypt_default_target(env):
    ran = console_process.manage("shell", "-c", "from backups_app.models import DatabaseTarget\n"
                                 "assert DatabaseTarget.objects.filter(name='default').update(encrypt=True) == 1",
                                 env=env)
    assert ran.returncode == 0, ran.stderr


@pytest.fixture
def sealed_console(tmp_path, pg_cluster, pagila):
    """tests/test_dedup_kill.py's console, its backups encrypted to a key of its own (the target has no key:
    BACKUP_AGE_RECIPIENTS), the private key in a file for restores."""
    key = tmp_path / "keys" / "console.key"
    key.parent.mkdir()
    public = keygen(key)
    env = prepared_console(tmp_path, pg_cluster, pagila, setup=encrypt_default_target,
                           BACKUP_AGE_RECIPIENTS=public, BACKUP_AGE_IDENTITY_FILE=key,
                           BACKUP_SCRATCH_DIR=tmp_path / "scratch", BACKUP_DEDUP_KEY="k" * 40)
    assert all(folder_files(root(env) / path) for _, path in kept_backups(env))
    yield env
    pg_cluster.dropdb(SOURCE)


def folder_files(folder):
    """An encrypted backup folder's files; asserts each is sealed."""
    names = sorted(os.listdir(folder))
    assert manifest.NAME in names and "toc.dat.age" in names, names
    sealed = [folder / n for n in names if n != manifest.NAME]
    assert all(p.name.endswith(".age") and p.read_bytes()[:len(AGE_HEADER)] == AGE_HEADER for p in sealed)
    return sealed


def scratch(env):
    folder = env["BACKUP_SCRATCH_DIR"]
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def plaintext_in_scratch(env) -> list[str]:
    return [os.path.join(top, name) for top, _, names in os.walk(env["BACKUP_SCRATCH_DIR"]) for name in names]


def assert_no_plaintext(env):
    """Scratch empty; every kept backup whole and sealed; under BACKUP_ROOT nothing but encrypted files,
    manifests and the log; encrypted content only in the store's keyed part."""
    assert scratch(env) == [], "plaintext left in the scratch folder"
    for _, path in kept_backups(env):
        folder_files(root(env) / path)
    unsealed = [p for p in root(env).rglob("*") if p.is_file() and p.name not in (manifest.NAME, "backup_log.txt")
                and p.read_bytes()[:len(AGE_HEADER)] != AGE_HEADER]
    assert unsealed == []
    assert all("/keyed/" in str(p) for p in store_files(env)), "encrypted content only in the keyed part"


@pytest.mark.parametrize("step", list(STEPS))
def test_an_encrypted_backup_killed_at_each_step_leaves_no_plaintext_and_the_next_command_tidies(
        sealed_console, pg_cluster, pagila, step):
    env = sealed_console
    killed(env, "from backups_app.services.crypto import sealing\n" + STEPS[step])
    left = plaintext_in_scratch(env)
    assert bool(left) == (step in PLAINTEXT_LEFT), left
    if step == "sealing":
        assert any(n.endswith("toc.dat") for n in left), "toc.dat was still to be sealed"
        assert any(p.stat().st_nlink == 2 for p in root(env).glob("database/*/.*/*")), "linked or added so far"
    leftovers = partial_leftovers(env)
    assert len(leftovers) == NEW_IN_STORE[step]

    nxt = console_process.manage("backup", "--list", env=env)
    assert nxt.returncode == 0, nxt.stderr
    said = nxt.stderr
    assert "ended failed: job lost" in said
    assert "removed a leftover partial folder" in said or "removed its partial folder" in said
    assert said.count("no backup uses it any more") == len(leftovers) == said.count("store file")
    assert said.count("removed plaintext left in") == (step in PLAINTEXT_LEFT)
    assert_no_plaintext(env)
    assert_whole_and_tidy(env, pg_cluster, pagila, kept=2)

    again = console_process.manage("backup", "--format", "directory", env=env)
    assert again.returncode == 0, again.stderr
    assert_no_plaintext(env)
    assert_whole_and_tidy(env, pg_cluster, pagila, kept=3)


def test_an_encrypted_backups_prune_killed_before_the_sweep_is_finished_by_the_next_command(
        sealed_console, pg_cluster, pagila):
    said = prune_killed_then_finished(sealed_console, pg_cluster, pagila)
    assert "removed store file" in said
    assert_no_plaintext(sealed_console)

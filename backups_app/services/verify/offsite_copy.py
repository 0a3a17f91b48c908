"""The copy in object storage, read back: a backup with a local copy is verified in both places.

The local checks say nothing of the object, and an upload's confirmation
says nothing of what became of it since. So a verification (from the
admin, `manage.py verify`, or a schedule) of a backup that has a local
copy and an uploaded one also reads the object through and hashes it:

- its bytes are the backup's: a passed finding saying what was read;
- they are not (another sha256 or size, or the object is gone): a failed
  finding, and the copy is marked offsite `failed` (storage/offsite.py), so
  that no restore fetches it and it can be copied offsite again;
- the store cannot be read: a failed finding, the copy left as recorded
  (its bytes were not seen).

A backup whose file is not on this host was verified from a copy fetched
from the store, already hashed on the way: nothing more to read.
"""

from backups_app.services.storage import offsite, offsite_copies
from backups_app.services.verify.integrity import Finding


def check(backup) -> Finding | None:
    """The finding of reading the copy back; None when there is no other copy to read."""
    if backup.local_stand_in is not None or not offsite.available_offsite(backup):
        return None
    try:
        return Finding(True, offsite_copies.read_back(backup))
    except offsite.CopyDamaged as exc:
        offsite_copies.mark_damaged(backup, str(exc))
        return Finding(False, f"the copy in object storage is not the backup's: {exc}")
    except offsite.StorageError as exc:
        return Finding(False, f"the copy in object storage could not be read back: {exc}")

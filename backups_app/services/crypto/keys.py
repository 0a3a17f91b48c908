"""Whose public keys a target's backups are encrypted to, and where the private key is found.

Public keys (recipients) are not secrets: they come from the target, or from
BACKUP_AGE_RECIPIENTS when the target has none of its own. The private key
(identity) is only needed to restore or verify: it is read from the file
BACKUP_AGE_IDENTITY_FILE names, or from the environment variable that
BACKUP_AGE_IDENTITY_ENV names, at the moment it is used, and handed to age
through an inherited pipe, so it never touches argv, a record or a disk.
"""

import contextlib
import os
import re

from django.conf import settings

# X25519 age keys, and the SSH keys age also encrypts to.
_RECIPIENT = re.compile(r"^(age1[02-9ac-hj-np-z]{58}|ssh-(ed25519|rsa) [A-Za-z0-9+/=]+( .*)?)$")


class KeyMissing(Exception):
    """No private key is configured (or it cannot be read); the message says how to configure one."""


class NoRecipients(Exception):
    """A target is to be encrypted but there is no public key to encrypt to."""


def parse_recipients(text: str) -> list[str]:
    """One public key per line; blank lines and # comments are ignored."""
    lines = (line.strip() for line in (text or "").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def bad_recipients(keys: list[str]) -> list[str]:
    return [key for key in keys if not _RECIPIENT.match(key)]


def shown(key: str) -> str:
    """How a rejected key is named in a message: never a private key, not even in part."""
    if "SECRET-KEY" in key.upper():
        return "a private key (AGE-SECRET-KEY-...): it must not be given to the console"
    return repr(key[:80])


def recipients_for(target) -> list[str]:
    """The public keys a target's backups are encrypted to; [] when they are not encrypted."""
    if not getattr(target, "encrypt", False):
        return []
    keys = parse_recipients(target.age_recipients) or list(settings.BACKUP_AGE_RECIPIENTS)
    if not keys:
        raise NoRecipients(f"target {target.name} is set to encrypt its backups but has no age public key: "
                           "add one to the target or set BACKUP_AGE_RECIPIENTS")
    if bad := bad_recipients(keys):
        raise NoRecipients(f"not an age public key: {shown(bad[0])} (expected age1... or an ssh-ed25519 key)")
    return keys


def identity_configured() -> bool:
    return bool(settings.BACKUP_AGE_IDENTITY_FILE or os.environ.get(settings.BACKUP_AGE_IDENTITY_ENV or ""))


def require_identity() -> None:
    """KeyMissing, saying how to configure one, unless a private key can be read here."""
    _identity_bytes()


def _identity_bytes() -> bytes:
    path, env_name = settings.BACKUP_AGE_IDENTITY_FILE, settings.BACKUP_AGE_IDENTITY_ENV
    if path:
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError as exc:
            raise KeyMissing(f"cannot read the age private key file BACKUP_AGE_IDENTITY_FILE={path}: "
                             f"{exc.strerror or exc}") from None
    if env_name and os.environ.get(env_name):
        return os.environ[env_name].encode() + b"\n"
    raise KeyMissing("the backup is encrypted and no private key is configured: set BACKUP_AGE_IDENTITY_FILE "
                     f"to an age identity file, or put the key in the environment variable {env_name or '(unset)'} "
                     "named by BACKUP_AGE_IDENTITY_ENV")


@contextlib.contextmanager
def identity_fd():
    """A pipe's read end holding the private key, for age -i /dev/fd/N; closed afterwards."""
    key = _identity_bytes()
    read_end, write_end = os.pipe()
    try:
        # A key is a few hundred bytes: it fits in the pipe before age starts reading.
        os.write(write_end, key)
    finally:
        os.close(write_end)
    try:
        yield read_end
    finally:
        os.close(read_end)

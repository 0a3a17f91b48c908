"""Encryption of backup files at rest, in the age format (https://age-encryption.org), by Debian's `age` program.

Owns which public keys (recipients) a target's backups are encrypted to, where
the private key (identity) comes from when one is needed (a file, or an
environment variable by name; never the console's database, never argv), and
the age processes themselves: encrypting a stream on its way to a file,
decrypting a file as a stream, or into a private temporary copy for the
programs that must seek. Any standard age tool decrypts what it writes.
"""

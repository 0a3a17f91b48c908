"""Where backup files live and how they are written.

The layout under BACKUP_ROOT, atomic publish and checksums (layout.py,
files.py); copies in S3-compatible object storage (s3.py moves the bytes;
offsite.py uploads after a backup, fetches for restores and verifications,
and deletes when pruning); downloads.py streams a backup's files to a
browser, checked, so that a file that is not the backup's never arrives whole.
"""

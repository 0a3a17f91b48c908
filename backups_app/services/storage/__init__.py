"""Where backup files live and how they are written.

The layout under BACKUP_ROOT, atomic publish and checksums (layout.py,
files.py); offsite copies behind one interface (objects.py), whose kinds
move the bytes: S3-compatible object storage (s3.py), Google Cloud Storage
(gcs.py) and a folder on another host over SFTP (sftp.py). offsite.py
uploads after a backup, fetches for restores and verifications, and deletes
when pruning, without asking which kind it talks to; probe.py tests a
storage; downloads.py streams a backup's files to a browser, checked, so
that a file that is not the backup's never arrives whole.
"""

"""Where backup files live and how they are written: layout under BACKUP_ROOT, atomic publish, checksums."""

"""Is a backup still good? Checksums, reading the archive to the end, restore drills, the offsite copy read back."""

"""Is every target safely backed up? Freshness for `backup --check` and /healthz."""

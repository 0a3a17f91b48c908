"""Database targets: the default one built from DB_*, and testing a target's connection."""

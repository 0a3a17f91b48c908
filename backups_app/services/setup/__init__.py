"""Getting an installation going: the first admin user, the roles, and the demo database."""

"""rehabwatch composition root: settings, database, CLI, app assembly."""

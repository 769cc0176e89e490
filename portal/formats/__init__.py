"""Date formats the admin shares with the staff pages (FORMAT_MODULE_PATH in settings)."""

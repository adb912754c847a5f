"""The authenticated HTTP API (FastAPI): :func:`rehabwatch.api.app.create_app`."""

"""The dashboard's pages, served by the API's app (:func:`rehabwatch.api.app.create_app`
mounts :data:`ROUTERS`): server-rendered Jinja2 templates, a little JavaScript, every asset
served from ``static/`` (uPlot vendored with its licence)."""

from __future__ import annotations

from rehabwatch.web import admin, inbox, own, patients, staff

ROUTERS = (staff.router, staff.api, patients.router, inbox.router, admin.router, own.router,
           own.api)

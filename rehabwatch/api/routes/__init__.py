"""The API's routes, one module per area; each route declares its access rule
(:mod:`rehabwatch.api.rules`)."""

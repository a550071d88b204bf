"""Money in: Stripe checkout and portal (checkout), what Stripe objects do to our tables
(effects), webhook and reconcile handling of Stripe events (sync), the Stripe client and
payload helpers (stripe_api), what is on sale (catalog) and what the billing page shows
(overview).

Callers import the module they need; nothing is re-exported here, because settings imports
the catalog and a facade would import settings back while it is still loading.
"""

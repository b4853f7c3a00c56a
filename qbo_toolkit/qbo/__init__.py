"""The QBO client: python-quickbooks on the toolkit's session, one client per realm.

``query`` (pure query builder), ``transport`` (client-side rate limiter and bounded retries with
backoff for 429, 5xx and dropped connections), ``client`` (``QboClient``: reads, paging, writes with
a caller-supplied ``requestid``, batch in chunks of 30, CDC with 30-day windows, faults mapped to
:mod:`qbo_toolkit.errors` in one place).
"""

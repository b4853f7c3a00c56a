"""Connecting to QuickBooks: OAuth 2.0 (later) and the per-realm token store (:mod:`.tokens`)."""

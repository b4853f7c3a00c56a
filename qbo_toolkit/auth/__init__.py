"""OAuth 2.0 with requests-oauthlib: environments, the authorization flow, tokens that stay fresh.

``environments`` (where to connect), ``flow`` (authorization URL, loopback listener, code exchange),
``session`` (an OAuth2Session that refreshes before expiry and on a 401), ``tokens`` (the token
store), ``oauth`` (refresh and revoke), ``local`` (find or start the local emulator). The
composition, ``connect``/``connection``/``disconnect``, is in :mod:`qbo_toolkit.connection`.
"""

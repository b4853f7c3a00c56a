"""The QBO side: a pure query builder (:mod:`qbo_toolkit.qbo.query`) and, later, the client."""

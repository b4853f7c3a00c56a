"""qbo-toolkit: connect a field-service WORK system to QuickBooks Online, keep them in sync, prove they agree."""

__version__ = "0.1.0"

__all__ = ["__version__"]

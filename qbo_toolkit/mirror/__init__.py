"""A local mirror of the connected QBO company, in the WORK store's database (tables ``qbo_mirror_*``).

Layer: ``jobs``, ``ui``, ``sync``, ``recon`` -> ``mirror`` -> ``qbo``, ``work``. This package is the
only one that writes its tables. See :mod:`.mirror` for how it is filled, kept current and verified,
and :mod:`.store` for its tables.
"""

from .mirror import OVERLAP, Mirror, MirrorRead, Verification, WriteFeed
from .store import ENTITIES, LIVE

__all__ = ["ENTITIES", "LIVE", "OVERLAP", "Mirror", "MirrorRead", "Verification", "WriteFeed"]

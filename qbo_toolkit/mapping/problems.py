"""Problems found in WORK records before anything is sent to QBO, named by record and field."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FieldProblem"]


@dataclass(frozen=True)
class FieldProblem:
    """One reason a WORK record cannot be sent to QBO as it is.

    ``entity`` is the WORK record type (``"client"``, ``"invoice"``, ``"payment"``, ``"item"``),
    ``record`` the WORK id as text, ``field`` the WORK field to fix (``"email"``,
    ``"billing.postal_code"``, ``"lines[2].description"``), and ``message`` a sentence that names
    the QBO rule. Nothing is ever truncated or altered to dodge a problem: the record is reported.
    """

    entity: str
    record: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.entity} {self.record}, {self.field}: {self.message}"

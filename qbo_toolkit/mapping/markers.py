"""The mark the toolkit leaves on what it creates in QBO, so it can find its own records again.

QBO's ``requestid`` replay is the first defence against writing a record twice, but its window and
its batch semantics are not documented (API_FACTS §2.4, §11). So every invoice and payment the
toolkit creates says which WORK record it is, in a field QBO keeps and returns: the transaction's
``PrivateNote`` (the internal memo, never shown to the customer) gets a last line
``[qbo-toolkit invoice 42]`` / ``[qbo-toolkit payment 42]``. After an ambiguous outcome (no reply, a
crash mid-request, a 6140 on its own invoice number) the sync looks the record up (an invoice by its
``DocNumber``, a payment by customer and date) and adopts the one that carries its mark, instead of
creating a second one; a record without the mark was not made by the toolkit and is never adopted.

Customers carry no mark: their only memo field, ``Notes``, syncs both ways with the WORK client's
notes. A customer is recognised by its DisplayName and the values the toolkit sent.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["MARKED_ENTITIES", "marker", "marker_owner", "strip_marker", "with_marker"]

#: The WORK entities whose QBO records carry the mark (issue 13 adds credit notes as CreditMemos,
#: their applications as Payments linking an Invoice and a CreditMemo, and refunds as RefundReceipts).
MARKED_ENTITIES: Final = ("invoice", "payment", "credit_note", "credit_applied", "refund")
_MARK: Final = re.compile(r"\[qbo-toolkit (" + "|".join(MARKED_ENTITIES) + r") (\d+)\]")


def marker(entity: str, work_id: int) -> str:
    """The mark of WORK record ``work_id`` of ``entity`` (``"invoice"`` or ``"payment"``)."""
    if entity not in MARKED_ENTITIES:
        raise ValueError(f"no marker for {entity!r}")
    return f"[qbo-toolkit {entity} {int(work_id)}]"


def with_marker(note: str, entity: str, work_id: int) -> str:
    """``note`` with the mark as its last line (replacing any earlier mark)."""
    text = strip_marker(note)
    return f"{text}\n{marker(entity, work_id)}" if text else marker(entity, work_id)


def strip_marker(note: object) -> str:
    """``note`` without the mark (what the user wrote): how the WORK side's memo compares to it."""
    text = note if isinstance(note, str) else ("" if note is None else str(note))
    return _MARK.sub("", text).rstrip("\n")


def marker_owner(note: object, entity: str) -> int | None:
    """The WORK id the mark in ``note`` names for ``entity``, or None when it has none (a record
    the toolkit did not create, or one created before marks existed)."""
    if not isinstance(note, str):
        return None
    for found in _MARK.finditer(note):
        if found.group(1) == entity:
            return int(found.group(2))
    return None

"""Creates QuickBooks refused because the document number is taken (6140), for every stage that
sends a numbered document (invoices, credit memos).

A refused create is either the record's own document (an earlier answer was lost: QuickBooks kept
the create, the reply never came) or someone else's. The rows holding the numbers are read in one
look-up (:meth:`~.context.RunContext.by_doc_numbers`); a row carrying the record's qbo-toolkit mark
and number is adopted, another holder stops the record with a sentence naming it, and when no row can
be read the record waits for the next run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..mapping.markers import marker_owner
from ..qbo.client import BatchOp, BatchResult
from .keys import split_key


@dataclass(frozen=True)
class Numbered:
    """How one stage names its documents in the sentences."""

    entity: str  # the sync entity, also the kind of mark the toolkit writes in PrivateNote
    qbo_entity: str  # what QuickBooks calls it (the query's entity)
    noun: str  # WORK's word: "invoice", "credit note"
    qbo_noun: str  # QuickBooks' word, with its article: "an invoice", "a credit memo"
    customer: bool = False  # name the holder's customer in the sentence


INVOICES = Numbered("invoice", "Invoice", "invoice", "an invoice", customer=True)
CREDIT_NOTES = Numbered("credit_note", "CreditMemo", "credit note", "a credit memo")

Rows = dict[str, dict[str, Any]]


def _number(op: BatchOp) -> str:
    return str(op.payload.get("DocNumber", ""))


def lookup(ctx: Any, kind: Numbered, ops: Sequence[BatchOp]) -> tuple[Rows, Rows]:
    """({record key: its document in QBO, by number and mark}, {number: a document holding that
    number that is not the record's})."""
    numbers = sorted({_number(op) for op in ops if op.payload.get("DocNumber")})
    by_number: dict[str, list[dict[str, Any]]] = {}
    for row in ctx.by_doc_numbers(kind.qbo_entity, numbers):
        by_number.setdefault(str(row.get("DocNumber", "")), []).append(row)
    found: Rows = {}
    others: Rows = {}
    for op in ops:
        work_id = split_key(op.key)[1]
        holders = by_number.get(_number(op), [])
        mine = [r for r in holders if marker_owner(r.get("PrivateNote"), kind.entity) == work_id]
        if mine:
            found[op.key] = min(mine, key=lambda r: int(r["Id"]))
        elif holders:
            others[_number(op)] = holders[0]
    return found, others


def resolve(ctx: Any, kind: Numbered, taken: Sequence[BatchOp],
            result: Callable[[BatchOp, BatchResult], None], amount: Callable[[Any], str]) -> None:
    """Adopt each refused create's own document; otherwise stop the record with a sentence naming the
    document that holds its number (or, when none can be read, leave it pending for the next run)."""
    found, others = lookup(ctx, kind, taken)
    for op in taken:
        work_id = split_key(op.key)[1]
        number = _number(op)
        if op.key in found:
            with ctx.recording():
                result(op, ctx.adopted_result(op.key, found[op.key]))
            continue
        holder = others.get(number)
        if holder is not None:
            owner = marker_owner(holder.get("PrivateNote"), kind.entity)
            who = (f"WORK {kind.noun} {owner} (by its qbo-toolkit mark)" if owner is not None else
                   f"{kind.qbo_noun} qbo-toolkit did not create")
            ref = holder.get("CustomerRef") or {}
            customer = f"customer {ref.get('name') or ref.get('value')}, " if kind.customer else ""
            qbo_noun = kind.qbo_noun.split(" ", 1)[1]
            text = (f"{kind.noun} {number}: QuickBooks already has {qbo_noun} number {number} (Id "
                    f"{holder.get('Id')}, {customer}{amount(holder.get('TotalAmt'))}), {who}; give one of them "
                    "another number, then retry")
        else:
            text = (f"{kind.noun} {number}: QuickBooks says the number is taken (6140) but no "
                    f"{kind.qbo_noun.split(' ', 1)[1]} with it could be read; it will be tried again")
        ctx.fail(kind.entity, "to_qbo", "create", work_id, text, field="number", pending=holder is None,
                 refused_key=op.key)

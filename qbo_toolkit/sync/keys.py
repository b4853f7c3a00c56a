"""Idempotency keys that belong to the record, not to the run.

QBO answers a repeated ``requestid`` with the reply of the first execution instead of acting again
(API_FACTS §2.4). That protects a write only if everyone who would send *the same change* sends
*the same key*: the run that crashed and the run that resends, and two processes that planned the
same change (the nightly job and someone pressing Sync now, whose lease expired, say). A key made
from the run id (as version one did) differs between them, and QBO writes the payment twice. So a
write's key is a function of what the write is, and of nothing that depends on who sends it:

    realm, entity, WORK id, WORK version, operation, attempt

* the **version** changes when the WORK record changes: a new change is a new write;
* the **operation** names what is done (``create``, ``update``/``delete``/``void`` from a QBO
  SyncToken, ``create2`` for the second name tried under name_policy ``fix``);
* the **attempt** counts QBO's refusals of the record at that version (``sync_keys``): after a
  refusal (QBO was down, a closed period, a rule the user then fixed in QBO) the next attempt must
  really run, not get the refusal replayed. Refusals are recorded in the same transaction as the
  answer, so every process computes the same attempt.

A batch request's key derives from its items' keys (in order): the same items in the same order
are the same request. QBO limits a requestid to 50 characters, 36 for a batch (API_FACTS §2.4):
keys are ``qt1-`` / ``qtb-`` and 32 hex digits of a SHA-1.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

__all__ = ["batch_request_id", "record_key", "request_id", "split_key"]


def record_key(entity: str, work_id: int, version: int, op: str) -> str:
    """The record part of a key, ``entity:work_id:version:op``; kept with each operation (the
    outbox, the answers) to say which record and change an answer belongs to."""
    return f"{entity}:{int(work_id)}:{int(version)}:{op}"


def split_key(key: str) -> tuple[str, int, int, str]:
    entity, work_id, version, op = key.split(":")
    return entity, int(work_id), int(version), op


def _digest(parts: object) -> str:
    text = json.dumps(parts, separators=(",", ":"), sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:32]  # noqa: S324 - an id, not security


def request_id(realm: str, key: str, attempt: int = 0) -> str:
    """The requestid of one write of the record change ``key`` (:func:`record_key`) in ``realm``,
    at its ``attempt`` (0 until QBO first refuses it)."""
    return "qt1-" + _digest(["qt1", str(realm), key, int(attempt)])


def batch_request_id(item_request_ids: Sequence[str]) -> str:
    """A batch request's requestid: from its items' requestids, in order."""
    if not item_request_ids:
        raise ValueError("a batch has at least one item")
    return "qtb-" + _digest(["qtb", list(item_request_ids)])

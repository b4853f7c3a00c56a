"""What a planner decides for one record: an :class:`Action`.

Actions are ``create``, ``update``, ``void``, ``delete``, ``link``, ``skip``, ``hold`` (waiting for
the user in the match preview), ``fail`` (a dependency or rule stops it; the reason names the
field; ``fields["problems"]`` lists every field at fault for an implausible date, and
``fields["blocked_by"]`` the record it waits for) and, for customers, ``rebase`` (nothing to send,
the remembered base moves). The stages execute them; ``dry_run`` shows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Action"]


@dataclass(frozen=True)
class Action:
    kind: str
    entity: str
    direction: str
    work_id: int | None
    qbo_id: str | None
    fields: dict[str, Any] = field(default_factory=dict, compare=False)
    reason: str = ""
    field: str | None = None

    def row(self) -> dict[str, Any]:
        return {"action": self.kind, "entity": self.entity, "direction": self.direction, "work_id": self.work_id,
                "qbo_id": self.qbo_id, "reason": self.reason, "field": self.field}

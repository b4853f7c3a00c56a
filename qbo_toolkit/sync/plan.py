"""The pure planners, in one place: a record, its link and its dependencies in, one action out.

Each planner lives beside the stage that carries its actions out (:mod:`.customers`,
:mod:`.invoices`, :mod:`.payments`, :mod:`.credits`); this module gathers them for callers that only plan (the
match preview, tests). See :mod:`.action` for what the actions mean.
"""

from __future__ import annotations

from .action import Action
from .credits import plan_credit_applied, plan_document
from .customers import plan_customer_merge, plan_customers
from .invoices import plan_invoice
from .payments import plan_payment

__all__ = ["Action", "plan_credit_applied", "plan_customer_merge", "plan_customers", "plan_document", "plan_invoice",
           "plan_payment"]

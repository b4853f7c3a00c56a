"""Pure converters between WORK records and QBO's JSON wire format. No I/O, no QBO client.

Payloads are plain JSON-shaped dicts (money as :class:`~decimal.Decimal`), ready for
``QboClient.create_from`` / ``sparse_update`` / batch items; QBO objects coming back are read as
dicts too (``obj.to_dict()`` for python-quickbooks objects: its blank strings and None count as
absent).

* :mod:`.names`: matching keys for names, e-mails and phones; QBO's DisplayName rules.
* :mod:`.customers`: client <-> Customer, the declarative :data:`CLIENT_FIELDS`, compared values,
  sparse updates, :func:`validate_client`.
* :mod:`.invoices`: invoice -> Invoice (line amounts and totals to the cent), item -> Item.
* :mod:`.payments`: payment -> Payment linked to its invoice.
* :mod:`.matching`: which existing QBO customers are which WORK clients (exact / weak /
  multiple / none), before anything is created.
* :mod:`.states`: US states, territories and DC, for the state of a US address.
* :mod:`.dates`: plausible transaction dates (1900-01-01 to 366 days after the run's date).

Validation never alters data: each ``validate_*`` returns :class:`FieldProblem` s naming the
record and the WORK field to fix. Values dicts (``*_values``) compare field by field with
:func:`changed_fields` and hash with :func:`fingerprint`.
"""

from __future__ import annotations

from qbo_toolkit.mapping._common import changed_fields, fingerprint
from qbo_toolkit.mapping.customers import (
    CLIENT_FIELDS,
    CLIENT_KEYS,
    ClientField,
    ClientValues,
    client_to_customer,
    client_values,
    customer_level,
    customer_parent_fields,
    customer_parent_id,
    customer_to_client_fields,
    customer_values,
    sparse_customer_fields,
    state_problems,
    validate_client,
)
from qbo_toolkit.mapping.dates import date_problem
from qbo_toolkit.mapping.invoices import (
    INVOICE_KEYS,
    NON,
    TAX,
    invoice_date_problems,
    invoice_differences,
    invoice_to_qbo,
    invoice_values,
    item_to_qbo,
    item_values,
    qbo_invoice_values,
    qbo_item_values,
    validate_invoice,
    validate_item,
)
from qbo_toolkit.mapping.matching import DEFAULT_FUZZY_THRESHOLD, Match, MatchResult, MultiMatch, match_customers
from qbo_toolkit.mapping.names import (
    DISPLAY_NAME_MAX,
    NameProblem,
    check_display_name,
    normalise_email,
    normalise_name,
    normalise_phone,
    suffixed_name,
)
from qbo_toolkit.mapping.payments import (
    PAYMENT_KEYS,
    payment_date_problems,
    payment_note,
    payment_to_qbo,
    payment_values,
    qbo_payment_values,
    validate_payment,
)
from qbo_toolkit.mapping.problems import FieldProblem
from qbo_toolkit.mapping.states import US_STATES, state_problem

__all__ = [
    "CLIENT_FIELDS",
    "CLIENT_KEYS",
    "DEFAULT_FUZZY_THRESHOLD",
    "DISPLAY_NAME_MAX",
    "INVOICE_KEYS",
    "NON",
    "PAYMENT_KEYS",
    "TAX",
    "US_STATES",
    "ClientField",
    "ClientValues",
    "FieldProblem",
    "Match",
    "MatchResult",
    "MultiMatch",
    "NameProblem",
    "changed_fields",
    "check_display_name",
    "client_to_customer",
    "client_values",
    "customer_level",
    "customer_parent_fields",
    "customer_parent_id",
    "customer_to_client_fields",
    "customer_values",
    "date_problem",
    "fingerprint",
    "invoice_date_problems",
    "invoice_differences",
    "invoice_to_qbo",
    "invoice_values",
    "item_to_qbo",
    "item_values",
    "match_customers",
    "normalise_email",
    "normalise_name",
    "normalise_phone",
    "payment_date_problems",
    "payment_note",
    "payment_to_qbo",
    "payment_values",
    "qbo_invoice_values",
    "qbo_item_values",
    "qbo_payment_values",
    "sparse_customer_fields",
    "state_problem",
    "state_problems",
    "suffixed_name",
    "validate_client",
    "validate_invoice",
    "validate_item",
    "validate_payment",
]

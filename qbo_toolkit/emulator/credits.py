"""CreditMemo, RefundReceipt and SalesReceipt: the sales forms besides the invoice, as a mixin of ``Company``.

* **CreditMemo** is built like an invoice (CustomerRef, item lines, tax per the company's kind,
  DocNumber, closed books) and is a credit on the customer's account: ``TotalAmt`` includes tax,
  ``Balance`` and ``RemainingCredit`` are the credit not yet used, and the customer's Balance falls by
  the total. It is applied to an invoice by a Payment (``TotalAmt`` may be 0) with one line linked to
  the invoice and one linked to the credit memo, for the same amount: the invoice's Balance and the
  credit memo's Balance fall by it, the customer's Balance does not move again. Applying more than
  its remaining credit is refused (6000, naming the credit memo). Update keeps what is applied (a total
  below it is refused), delete and void are refused while a payment uses it (unlink it first).
* **SalesReceipt** is the same with money coming in (the deposit account defaults to Undeposited
  Funds); it has the same tax rules as an invoice and no A/R effect either.
* **RefundReceipt** is money paid back at once (CustomerRef optional, item lines, tax,
  ``DepositToAccountRef`` a Bank or Other Current Asset account, required; ``PaymentMethodRef``
  optional and checked). It does not touch accounts receivable: no customer Balance change. Create,
  read, update, delete and void.

Both respect closed books (``Company._check_books_open``) and are voided as invoices are: amounts to
0 and "Voided" prepended to the PrivateNote.

This module imports nothing of ``company.py`` (it is mixed into it): it uses the Company's methods.
"""

from __future__ import annotations

import copy
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from . import faults
from .specs import SPECS

if TYPE_CHECKING:
    from datetime import date

    from .specs import EntitySpec

Doc = dict[str, Any]
_CENT = Decimal("0.01")
DEPOSIT_TYPES = {"Bank", "Other Current Asset"}


def _cents(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


def _customer_id(doc: Doc) -> str:
    ref = doc.get("CustomerRef")
    return str(ref.get("value", "")) if isinstance(ref, dict) else ""


def _has_payments(doc: Doc) -> bool:
    return any(t.get("TxnType") == "Payment" for t in doc.get("LinkedTxn", []))


class CreditsMixin:
    """CreditMemo, RefundReceipt and SalesReceipt writers (create, update, delete, void)."""

    if TYPE_CHECKING:  # what the mixin uses of Company
        def all(self, entity: str) -> list[Doc]: ...
        def _input(self, spec: EntitySpec, body: Any) -> Doc: ...
        def _envelope_base(self, entity: str) -> Doc: ...
        def _sales_rules(self, entity: str, doc: Doc, current: Doc | None) -> None: ...
        def _save(self, entity: str, doc: Doc, *, created: bool = False, bump: bool = True) -> Doc: ...
        def _adjust_customer_balance(self, customer_id: str, delta: Decimal) -> None: ...
        def _current_for_update(self, spec: EntitySpec, body: Doc) -> Doc: ...
        def _is_voided(self, entity: str, doc: Doc) -> bool: ...
        def _mark_voided(self, entity: str, id_: str) -> None: ...
        def _merge(self, spec: EntitySpec, current: Doc, body: Doc, keep: frozenset[str] = frozenset()) -> Doc: ...
        @staticmethod
        def _same(a: Doc, b: Doc) -> bool: ...
        def _ref(self, doc: Doc, key: str, entity: str, element: str | None = None, *,
                 required: bool = False, active: bool = True) -> Doc | None: ...
        def _check_books_open(self, entity: str, txn_date: date | None, current: Doc | None) -> None: ...

    # -- CreditMemo -------------------------------------------------------------------------------
    def create_credit_memo(self, body: Any) -> Doc:
        doc = self._input(SPECS["CreditMemo"], body)
        doc = {**self._envelope_base("CreditMemo"), **doc}
        self._sales_rules("CreditMemo", doc, current=None)
        doc["LinkedTxn"] = []
        doc["Balance"] = doc["RemainingCredit"] = doc["TotalAmt"]
        saved = self._save("CreditMemo", doc, created=True)
        self._adjust_customer_balance(_customer_id(saved), -Decimal(str(saved["Balance"])))
        return saved

    def update_credit_memo(self, body: Any) -> Doc:
        spec = SPECS["CreditMemo"]
        if not isinstance(body, dict):
            self._input(spec, body)
        current = self._current_for_update(spec, body)
        if self._is_voided("CreditMemo", current):
            raise faults.business_validation("A voided transaction cannot be changed.", "Id")
        doc = self._merge(spec, current, body)
        self._sales_rules("CreditMemo", doc, current=current)
        used = Decimal(str(current["TotalAmt"])) - Decimal(str(current["Balance"]))
        if doc["TotalAmt"] < used:
            raise faults.business_validation(
                f"The credit memo total ({doc['TotalAmt']}) cannot be less than the credit already applied "
                f"from it ({used}).", "TotalAmt")
        if _customer_id(doc) != _customer_id(current) and used != 0:
            raise faults.business_validation(
                "The customer of a credit memo that is applied to invoices cannot be changed.", "CustomerRef")
        doc["Balance"] = doc["RemainingCredit"] = _cents(doc["TotalAmt"] - used)
        doc["LinkedTxn"] = current.get("LinkedTxn", [])
        if self._same(current, doc):
            return current
        saved = self._save("CreditMemo", doc)
        self._adjust_customer_balance(_customer_id(current), Decimal(str(current["Balance"])))
        self._adjust_customer_balance(_customer_id(saved), -Decimal(str(saved["Balance"])))
        return saved

    def void_credit_memo(self, body: Any) -> Doc:
        return self._void_sales_form("CreditMemo", body)

    # -- RefundReceipt and SalesReceipt (money out and in at once, no A/R) --------------------------
    def create_refund_receipt(self, body: Any) -> Doc:
        return self._create_receipt("RefundReceipt", body)

    def update_refund_receipt(self, body: Any) -> Doc:
        return self._update_receipt("RefundReceipt", body)

    def void_refund_receipt(self, body: Any) -> Doc:
        return self._void_sales_form("RefundReceipt", body)

    def create_sales_receipt(self, body: Any) -> Doc:
        return self._create_receipt("SalesReceipt", body)

    def update_sales_receipt(self, body: Any) -> Doc:
        return self._update_receipt("SalesReceipt", body)

    def void_sales_receipt(self, body: Any) -> Doc:
        return self._void_sales_form("SalesReceipt", body)

    def _create_receipt(self, entity: str, body: Any) -> Doc:
        doc = self._input(SPECS[entity], body)
        doc = {**self._envelope_base(entity), **doc}
        self._receipt_rules(entity, doc, current=None)
        return self._save(entity, doc, created=True)

    def _update_receipt(self, entity: str, body: Any) -> Doc:
        spec = SPECS[entity]
        if not isinstance(body, dict):
            self._input(spec, body)
        current = self._current_for_update(spec, body)
        if self._is_voided(entity, current):
            raise faults.business_validation("A voided transaction cannot be changed.", "Id")
        doc = self._merge(spec, current, body)
        self._receipt_rules(entity, doc, current=current)
        return current if self._same(current, doc) else self._save(entity, doc)

    def _receipt_rules(self, entity: str, doc: Doc, current: Doc | None) -> None:
        """A RefundReceipt names the Bank or Other Current Asset account it is paid from (required); a
        SalesReceipt's deposit account defaults to Undeposited Funds. Neither touches the customer's Balance."""
        self._sales_rules(entity, doc, current)
        account = self._ref(doc, "DepositToAccountRef", "Account", required=entity == "RefundReceipt")
        if account is None:
            account = next((a for a in self.all("Account") if a.get("AccountSubType") == "UndepositedFunds"), None)
            if account is not None:
                doc["DepositToAccountRef"] = {"value": account["Id"], "name": account["Name"]}
        elif account["AccountType"] not in DEPOSIT_TYPES:
            what = "A refund is paid from" if entity == "RefundReceipt" else "A sales receipt is deposited to"
            raise faults.business_validation(
                f"{what} a Bank or Other Current Asset account (such as Undeposited Funds), not "
                f"'{account['Name']}' ({account['AccountType']}).", "DepositToAccountRef")
        self._payment_method(doc)
        doc["Balance"] = Decimal(0)
        if entity == "RefundReceipt":
            doc.pop("EmailStatus", None)

    # -- shared -----------------------------------------------------------------------------------
    def _payment_method(self, doc: Doc) -> None:
        """PaymentMethodRef, when given, names an existing PaymentMethod (2500 otherwise); kept with its name."""
        self._ref(doc, "PaymentMethodRef", "PaymentMethod")

    def _void_sales_form(self, entity: str, body: Any) -> Doc:
        spec = SPECS[entity]
        if not isinstance(body, dict):
            self._input(spec, body)
        current = self._current_for_update(spec, body)
        if self._is_voided(entity, current):
            return current
        self._check_books_open(entity, None, current)
        if _has_payments(current):
            raise faults.business_validation(
                "This credit memo is applied to invoices by payments. Unlink or delete the payments first.",
                "LinkedTxn")
        doc = copy.deepcopy(current)
        for line in doc["Line"]:
            line["Amount"] = Decimal(0)
            detail = line.get("SalesItemLineDetail")
            if isinstance(detail, dict) and "Qty" in detail:
                detail["Qty"] = Decimal(0)
            if isinstance(detail, dict) and "TaxInclusiveAmt" in detail:
                detail["TaxInclusiveAmt"] = Decimal(0)
        doc["TotalAmt"] = doc["Balance"] = Decimal(0)
        if entity == "CreditMemo":
            doc["RemainingCredit"] = Decimal(0)
            self._adjust_customer_balance(_customer_id(current), Decimal(str(current["Balance"])))
        doc["TxnTaxDetail"] = {"TotalTax": Decimal(0)}
        note = doc.get("PrivateNote")
        doc["PrivateNote"] = f"Voided - {note}" if note else "Voided"
        self._mark_voided(entity, doc["Id"])
        return self._save(entity, doc)

    def _before_delete(self, entity: str, current: Doc) -> None:
        """What deleting a CreditMemo or RefundReceipt undoes (the caller removes the record)."""
        if entity == "CreditMemo":
            if _has_payments(current):
                raise faults.business_validation(
                    "This credit memo is applied to invoices by payments. Unlink or delete the payments first.",
                    "LinkedTxn")
            if not self._is_voided("CreditMemo", current):
                self._adjust_customer_balance(_customer_id(current), Decimal(str(current["Balance"])))

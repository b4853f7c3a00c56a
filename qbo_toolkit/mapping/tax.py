"""Sales tax on a QBO sales document (Invoice, CreditMemo, RefundReceipt, ...), per kind of company.

One function, :func:`sales_tax`, says how a document's lines and its tax go to QuickBooks, from
WORK's lines (each line's amount, its WORK tax rate's name and, for US companies, whether it is
taxable), WORK's tax amount, the settings' ``tax:`` choice and the company the sync's check found
(``settings.company``, :class:`~qbo_toolkit.settings.CompanyFacts`):

* **US with Automated Sales Tax** (``us-ast``; also when the company is not known): each line's
  ``TaxCodeRef`` is ``TAX`` (taxable) or ``NON``, and ``TxnTaxDetail.TotalTax`` is WORK's tax amount,
  which QBO honours (prorated over the rates it assigns), so QBO's total is WORK's to the cent. This
  is the payload the toolkit has always sent: the demo's invoices do not change.
* **US with manual sales tax** (``us-manual``): lines ``TAX`` / ``NON``; one TaxCode for the whole
  document in ``TxnTaxDetail.TxnTaxCodeRef``: the code ``tax.codes`` maps the taxable lines' WORK
  rate to (when they share one), else ``tax.invoice_code``; WORK's amount as ``TotalTax``.
* **Non-US** (UK, Canada, Australia, ...; or ``tax.mode: tax_codes``): every line's ``TaxCodeRef`` is
  the QBO TaxCode its WORK tax rate maps to under ``tax.codes`` (a line without a WORK rate uses the
  code mapped from ``""``, e.g. ``"": "Exempt"``); ``GlobalTaxCalculation`` is ``TaxExcluded`` (WORK's
  amounts are before tax); no ``TotalTax``: QuickBooks computes the tax per code, and the sync ties it
  to WORK's afterwards (:func:`tax_difference`), reporting any difference with a sentence.

A document that cannot be expressed (a WORK rate no code maps, a US manual document without a code)
gets :class:`~qbo_toolkit.mapping.problems.FieldProblem` sentences naming the record, the line and
the rate, and is not sent. ``tax.codes`` hold QBO TaxCode Ids once the sync's check has resolved
them (names as written before that).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from qbo_toolkit.mapping._common import get_path, money_text
from qbo_toolkit.mapping.problems import FieldProblem
from qbo_toolkit.settings import CompanyFacts, Settings
from qbo_toolkit.yamlio import closest

__all__ = ["NON", "TAX", "SalesTax", "TaxLine", "company_kind", "invoice_tax_lines", "sales_tax", "tax_difference"]

#: QBO's US pseudo tax codes on a line.
TAX: Final = "TAX"
NON: Final = "NON"


@dataclass(frozen=True)
class TaxLine:
    """What the tax of one document line depends on."""

    amount: Decimal
    tax_rate: str = ""  # the WORK tax rate's name, "" for none
    taxable: bool = False  # US companies: TAX or NON


def invoice_tax_lines(lines: Iterable[Any]) -> list[TaxLine]:
    """:class:`TaxLine` of WORK invoice lines (``amount``, ``tax_rate``, ``taxable``), in the order given."""
    return [TaxLine(line.amount, str(getattr(line, "tax_rate", "") or ""), bool(line.taxable)) for line in lines]


@dataclass(frozen=True)
class SalesTax:
    """How a document's tax goes to QBO: each line's ``TaxCodeRef`` value, the document's fields
    (``TxnTaxDetail``, ``GlobalTaxCalculation``), and the problems that stop it being sent."""

    line_codes: tuple[str, ...]
    fields: Mapping[str, Any] = field(default_factory=dict)
    problems: tuple[FieldProblem, ...] = ()
    #: the tax QBO should record: WORK's amount (compared after the write by :func:`tax_difference`)
    expected: Decimal = Decimal("0.00")

    def apply(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``payload`` with each SalesItemLineDetail line's TaxCodeRef set (in order) and the fields."""
        codes = iter(self.line_codes)
        for line in payload.get("Line") or []:
            detail = line.get("SalesItemLineDetail") if isinstance(line, dict) else None
            if isinstance(detail, dict):
                code = next(codes, None)
                if code is not None:
                    detail["TaxCodeRef"] = {"value": code}
        payload.update(self.fields)
        return payload


def company_kind(settings: Settings) -> str:
    """``us-ast``, ``us-manual`` or ``non-us``: the company the sync's check found; without one,
    ``non-us`` when the settings ask for tax codes, else ``us-ast`` (what the toolkit always sent)."""
    company: CompanyFacts | None = settings.company
    if company is not None:
        return company.kind
    return "non-us" if settings.tax.mode == "tax_codes" else "us-ast"


def _rate_label(rate: str) -> str:
    return f"WORK tax rate {rate!r}" if rate else "no WORK tax rate"


def _code_name(settings: Settings, code: str) -> str:
    names = settings.company.tax_codes if settings.company is not None else {}
    name = names.get(code)
    return f"{name} (Id {code})" if name and name != code else code


def sales_tax(lines: Sequence[TaxLine], *, tax_amount: Decimal, settings: Settings, entity: str = "invoice",
              record: str = "", label: str = "") -> SalesTax:
    """The tax of a sales document with ``lines`` (in the order of the payload's item lines) and WORK's
    ``tax_amount``, for the company and settings given (see the module docstring). ``entity`` and
    ``record`` name the WORK record in problems; ``label`` ("invoice 1042") starts their sentences."""
    kind = company_kind(settings)
    who = label or f"{entity} {record}".strip()
    problems: list[FieldProblem] = []
    codes = settings.tax.codes
    if kind == "non-us":
        line_codes: list[str] = []
        for n, line in enumerate(lines, start=1):
            code = codes.get(line.tax_rate)
            if code is None:
                if line.tax_rate:
                    known = sorted(settings.company.tax_codes.values()) if settings.company is not None else []
                    guess = closest(line.tax_rate, known)
                    which = (f"the closest is {guess}" if guess else
                             f"its codes are {', '.join(known)}" if known else "such as 20.0% S")
                    hint = (f"map it to one of the company's tax codes under tax.codes in the settings ({which}: "
                            f"\"{line.tax_rate}\": \"{guess or (known[0] if known else '20.0% S')}\")")
                else:
                    hint = ("give the line a tax rate in WORK, or map lines without one under tax.codes "
                            "(such as \"\": \"Exempt\")")
                problems.append(FieldProblem(entity, record, f"lines[{n}].tax_rate",
                                             f"{who} line {n} has {_rate_label(line.tax_rate)}, and this QuickBooks "
                                             f"company needs a tax code on every line: {hint}"))
                line_codes.append("")
                continue
            line_codes.append(code)
        if tax_amount and not any(line.tax_rate for line in lines):
            problems.append(FieldProblem(entity, record, "tax_amount",
                                         f"{who} has a tax amount of {money_text(tax_amount)} but no line has a WORK "
                                         "tax rate, and this QuickBooks company computes the tax from each line's "
                                         "tax code: give its lines WORK tax rates (mapped under tax.codes)"))
        return SalesTax(tuple(line_codes), {"GlobalTaxCalculation": "TaxExcluded"}, tuple(problems), tax_amount)
    pseudo = tuple(TAX if line.taxable else NON for line in lines)
    detail: dict[str, Any] = {"TotalTax": tax_amount}
    if kind == "us-manual":
        taxable = [line for line in lines if line.taxable]
        rates = {line.tax_rate for line in taxable}
        mapped = codes.get(next(iter(rates))) if len(rates) == 1 else None
        code = mapped or settings.tax.invoice_code
        if taxable and not code:
            listed = ", ".join(sorted(repr(r) for r in rates))
            which = (f"its taxable lines have {_rate_label(next(iter(rates)))}" if len(rates) == 1 else
                     f"its taxable lines have {len(rates)} WORK tax rates ({listed})")
            problems.append(FieldProblem(entity, record, "tax_rate",
                                         f"{who}: this US company uses manual sales tax, one tax code per "
                                         f"{entity}, and {which}; map the rate under tax.codes or set "
                                         "tax.invoice_code in the settings"))
        if taxable and code:
            detail = {"TxnTaxCodeRef": {"value": code}, "TotalTax": tax_amount}
    return SalesTax(pseudo, {"TxnTaxDetail": detail}, tuple(problems), tax_amount)


def tax_difference(expected: Decimal, qbo_doc: Mapping[str, Any], *, label: str) -> str | None:
    """A sentence when the tax QuickBooks recorded on ``qbo_doc`` (``TxnTaxDetail.TotalTax``) is not
    WORK's ``expected`` amount, naming the document, both amounts and each QBO rate's part; None when
    they agree to the cent."""
    recorded_text = money_text(get_path(qbo_doc, "TxnTaxDetail", "TotalTax") or 0)
    recorded = Decimal(recorded_text or "0")
    if recorded == Decimal(money_text(expected) or "0"):
        return None
    parts = []
    for line in get_path(qbo_doc, "TxnTaxDetail", "TaxLine") or []:
        detail = line.get("TaxLineDetail") if isinstance(line, Mapping) else None
        if isinstance(detail, Mapping):
            rate = get_path(detail, "TaxRateRef", "name") or get_path(detail, "TaxRateRef", "value")
            parts.append(f"{rate} {detail.get('TaxPercent')}% on {money_text(detail.get('NetAmountTaxable'))}: "
                         f"{money_text(line.get('Amount'))}")
    split = f" ({'; '.join(parts)})" if parts else ""
    return (f"{label}: QuickBooks computed tax {recorded_text}{split}, WORK has {money_text(expected)} "
            f"(difference {money_text(recorded - expected)}); check that each WORK tax rate's percent is the "
            "percent of the QuickBooks tax code it maps to (tax.codes), then correct the invoice in WORK or "
            "QuickBooks")

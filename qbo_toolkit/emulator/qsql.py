"""The QBO query language: a hand-written tokenizer, a recursive-descent parser and an evaluator.

The server hands the raw statement of ``POST /v3/company/<realm>/query`` to :func:`parse` and the
entity's documents to :func:`execute`, which returns the body of the ``QueryResponse`` object.

Grammar (keywords, entity names and property names are case-insensitive)::

    statement  := SELECT projection FROM <entity> [where] [orderby] [paging] <EOF>
    projection := "*" ["," <property> ...]            -- extra names are accepted and ignored
                | COUNT "(" "*" ")"
    where      := WHERE condition [AND condition ...]  -- OR is a parse fault (4000)
    condition  := <property> ("=" | "!=" | "<" | ">" | "<=" | ">=") value
                | <property> IN "(" value ["," value ...] ")"
                | <property> LIKE <string>             -- "%" is the only wildcard
    orderby    := (ORDERBY | ORDER BY) <property> [ASC | DESC] ["," <property> [ASC | DESC] ...]
    paging     := STARTPOSITION <integer> and/or MAXRESULTS <integer>, each at most once, either order
    value      := <string> | <integer> | <decimal> | TRUE | FALSE
    <string>   := single-quoted; backslash-quote is a quote, double backslash a backslash, and any other
                  backslash sequence is kept as written; no other escaping is needed
    <property> := a name or a dotted path (MetaData.LastUpdatedTime)

Faults (all HTTP 400, type ValidationFault), with QBO's wording:

* 4000 "Error parsing query": the Detail is the message of QBO's JavaCC-generated parser, e.g.
  ``QueryParserError: Encountered " <IDENTIFIER> "R "" at line 1, column 52.`` followed by
  ``Was expecting one of:`` and one expected token per line (line breaks and all, as observed in
  node-quickbooks#56), or ``QueryParserError: Invalid content. Lexical error at line 1, column 43.
  Encountered: "\\u2019" (8217), after : "\\'%Fleur"`` for a character no token can hold. The tokenizer
  is lazy, like JavaCC's: text after the first syntax error is never looked at.
* 4001 "Invalid query": ``QueryValidationError: invalid context declaration: <Entity>`` and
  ``QueryValidationError: property '<Name>' is not queryable`` (filtering or sorting on a property the
  :class:`EntitySpec` does not list).

Choices made where the evidence is thin (strict readings, see API_FACTS sections 5 and 11):

* ``MAXRESULTS`` above 1000 is silently capped at 1000; 0 or less returns no rows.
* ``STARTPOSITION`` 0 (or less) is treated as 1.
* String values compare case-insensitively (the docs say attribute values do), for ``=``, ranges,
  ``IN`` and ``LIKE`` alike.
* A character above U+00FF inside a string literal is a lexical error (4000). Real QBO rejected
  U+2019 (quickbooks-ruby#309) and U+2013 (QuickBooks-V3-PHP-SDK#397) this way; the allowed range is
  not documented, and ISO-8859-1 is the stated QuickBooks character set. So typographic quotes such as
  ``“`` and ``’`` fail here. ``parse(..., strict_charset=False)`` accepts any character.
  (python-quickbooks sends the query body as UTF-8, so such a query reaches the server and gets 4000.)
* ``OR`` is recognised by the tokenizer (QBO's parser knows the token) but always rejected with 4000.
  ``ITERATOR`` is likewise listed as expected, as QBO does, but rejected with 4000.
* ``Id`` and reference fields (``CustomerRef`` ...) compare numerically when both sides are digits;
  a reference compares by its ``value``. Quoted numbers compare numerically against numeric fields.
* Properties named ``MetaData.*`` or ending in ``Date``/``Time`` are temporal: their literal must be a
  date or datetime (otherwise 4001, emulator wording). A value without an offset is company-local time
  (America/Los_Angeles). A date-only document value (``TxnDate``) compares as a date.
* Name-list entities return active rows only unless a condition names ``Active``; a document without
  ``Active`` counts as active.
* Rows are ordered by ``Id`` (numerically) unless ``ORDERBY`` says otherwise; ties are broken by ``Id``
  ascending. A missing value sorts as the lowest value (first ascending, last descending).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, NoReturn

from qbo_toolkit.emulator.clock import COMPANY_TZ, parse_stamp
from qbo_toolkit.emulator.faults import EmuFault

__all__ = [
    "DEFAULT_SPECS",
    "MAX_RESULTS_CAP",
    "Condition",
    "EntitySpec",
    "Query",
    "Value",
    "execute",
    "parse",
]

MAX_RESULTS_DEFAULT = 100
MAX_RESULTS_CAP = 1000

Value = str | Decimal | bool
"""A literal: a quoted string, a bare number (as Decimal) or a boolean."""


# ---------------------------------------------------------------------------------------------------
# Public data types


@dataclass(frozen=True)
class EntitySpec:
    """What one entity allows in a query. Property paths are in canonical case."""

    name: str
    queryable: frozenset[str]
    sortable: frozenset[str]
    name_list: bool = False


@dataclass(frozen=True)
class Condition:
    """``prop op values``; ``op`` is one of ``= != < > <= >= IN LIKE``. ``values`` has one item unless IN."""

    prop: str
    op: str
    values: tuple[Value, ...]


@dataclass(frozen=True)
class Query:
    entity: str
    count: bool
    conditions: tuple[Condition, ...]
    order_by: tuple[tuple[str, bool], ...]
    start_position: int = 1
    max_results: int = MAX_RESULTS_DEFAULT


_META = ("MetaData.CreateTime", "MetaData.LastUpdatedTime")


def _spec(
    name: str, queryable: Iterable[str], sortable: Iterable[str], name_list: bool = False
) -> EntitySpec:
    return EntitySpec(name, frozenset(queryable), frozenset(sortable), name_list)


_PERSON = ("Id", "DisplayName", "GivenName", "FamilyName", "CompanyName", "PrimaryEmailAddr", "PrintOnCheckName",
           "Active", "Balance", *_META)
# filterable on every transaction (QBO's reference lists these for each transaction entity)
_TXN = ("Id", "DocNumber", "TxnDate", "TotalAmt", "PrivateNote", "DepartmentRef", "CurrencyRef", *_META)
_TXN_SORT = ("Id", "DocNumber", "TxnDate", "TotalAmt", *_META)
_NAMED = ("Id", "Name", "Active", *_META)


def _txn(name: str, *extra: str, sort: Iterable[str] = ()) -> EntitySpec:
    return _spec(name, (*_TXN, *extra), (*_TXN_SORT, *sort))


def _named(name: str, *extra: str) -> EntitySpec:
    return _spec(name, (*_NAMED, *extra), (*_NAMED, *extra), name_list=True)


DEFAULT_SPECS: dict[str, EntitySpec] = {
    spec.name: spec
    for spec in (
        _spec(
            "Customer",
            ("Id", "DisplayName", "GivenName", "MiddleName", "FamilyName", "FullyQualifiedName",
             "CompanyName", "PrimaryEmailAddr", "PrintOnCheckName", "Active", "Balance", "BalanceWithJobs", "Job",
             "ParentRef", "Level", "Taxable", *_META),
            ("Id", "DisplayName", "GivenName", "MiddleName", "FamilyName", "FullyQualifiedName",
             "CompanyName", "PrintOnCheckName", "Active", "Balance", "BalanceWithJobs", *_META),
            name_list=True,
        ),
        _spec(
            "Invoice",
            ("Id", "DocNumber", "TxnDate", "DueDate", "CustomerRef", "SalesTermRef", "Balance", "TotalAmt",
             "ClassRef", "DepartmentRef", "EmailStatus", "PrintStatus", "PrivateNote", "CurrencyRef", *_META),
            ("Id", "DocNumber", "TxnDate", "DueDate", "Balance", "TotalAmt", *_META),
        ),
        _spec(
            "Payment",
            ("Id", "TxnDate", "CustomerRef", "TotalAmt", "PaymentMethodRef", "PaymentRefNum", "UnappliedAmt",
             "DepositToAccountRef", "PrivateNote", *_META),
            ("Id", "TxnDate", "PaymentRefNum", *_META),
        ),
        _spec(
            "Item",
            ("Id", "Name", "Type", "Sku", "FullyQualifiedName", "Active", "ParentRef", "SubItem", "UnitPrice",
             "Taxable", "IncomeAccountRef", "ExpenseAccountRef", "QtyOnHand", "Description", *_META),
            ("Id", "Name", "Type", "FullyQualifiedName", "UnitPrice", *_META),
            name_list=True,
        ),
        _spec(
            "Account",
            ("Id", "Name", "SubAccount", "ParentRef", "Description", "Classification", "FullyQualifiedName",
             "AccountType", "AccountSubType", "AcctNum", "Active", "CurrencyRef", "CurrentBalance",
             "CurrentBalanceWithSubAccounts", *_META),
            ("Id", "Name", "SubAccount", "FullyQualifiedName", "AccountType", "AccountSubType", "AcctNum",
             "Classification", "CurrentBalance", "CurrentBalanceWithSubAccounts", *_META),
            name_list=True,
        ),
        _spec("Vendor", (*_PERSON, "AcctNum", "Vendor1099"), _PERSON, name_list=True),
        _spec("Employee", (*_PERSON, "EmployeeNumber"), _PERSON, name_list=True),
        _spec("CompanyInfo", ("Id", "CompanyName", "Country", *_META), ("Id", *_META)),
        _spec("Preferences", ("Id", *_META), ("Id", *_META)),
        # name lists
        _named("Class", "FullyQualifiedName", "SubClass", "ParentRef"),
        _named("Department", "FullyQualifiedName", "SubDepartment", "ParentRef"),
        _named("Term", "Type", "DueDays"),
        _named("PaymentMethod", "Type"),
        _named("TaxCode", "Taxable", "TaxGroup", "Description"),
        _named("TaxRate", "RateValue", "AgencyRef", "Description"),
        _named("CustomerType"),
        _named("Budget", "StartDate", "EndDate", "BudgetType"),
        _named("JournalCode", "Type"),
        _spec("TaxAgency", ("Id", "DisplayName", *_META), ("Id", "DisplayName", *_META)),
        _spec("CompanyCurrency", ("Id", "Code", "Name", "Active", *_META), ("Id", "Code", "Name", *_META),
              name_list=True),
        _spec("TaxClassification", ("Id", "Code", "Name", "Level", "ParentRef"), ("Id", "Code", "Name")),
        _spec("ExchangeRate", ("SourceCurrencyCode", "TargetCurrencyCode", "AsOfDate", "Rate", *_META),
              ("SourceCurrencyCode", "AsOfDate", *_META)),
        _spec("Attachable", ("Id", "FileName", "Note", "Category", "ContentType", "AttachableRef.EntityRef.Type",
                             "AttachableRef.EntityRef.value", "AttachableRef.EntityRef", *_META),
              ("Id", "FileName", *_META)),
        _spec("RecurringTransaction", ("Id", "Type", *_META), ("Id", *_META)),
        _spec("TaxPayment", ("Id", "PaymentDate", "PaymentAmount", "Refund", *_META), ("Id", "PaymentDate", *_META)),
        # transactions
        _txn("SalesReceipt", "CustomerRef", "Balance", "PaymentMethodRef", "DepositToAccountRef", "ClassRef"),
        _txn("Estimate", "CustomerRef", "TxnStatus", "ExpirationDate", "DueDate", "ClassRef", "SalesTermRef"),
        _txn("CreditMemo", "CustomerRef", "Balance", "RemainingCredit", "ClassRef"),
        _txn("RefundReceipt", "CustomerRef", "Balance", "PaymentMethodRef", "DepositToAccountRef", "ClassRef"),
        _txn("Bill", "VendorRef", "DueDate", "Balance", "APAccountRef", "SalesTermRef", sort=("DueDate", "Balance")),
        _txn("BillPayment", "VendorRef", "PayType", "APAccountRef"),
        _txn("PurchaseOrder", "VendorRef", "DueDate", "POStatus", "APAccountRef", "ClassRef"),
        _txn("Purchase", "AccountRef", "PaymentType", "EntityRef", "Credit", "PaymentMethodRef"),
        _txn("VendorCredit", "VendorRef", "Balance", "APAccountRef"),
        _txn("JournalEntry", "Adjustment"),
        _txn("Deposit", "DepositToAccountRef"),
        _txn("ReimburseCharge", "CustomerRef", "HasBeenInvoiced", "Amount"),
        _spec("Transfer", ("Id", "TxnDate", "Amount", "FromAccountRef", "ToAccountRef", "PrivateNote", *_META),
              ("Id", "TxnDate", "Amount", *_META)),
        _spec("CreditCardPayment", ("Id", "TxnDate", "Amount", "CreditCardAccountRef", "BankAccountRef", "VendorRef",
                                    *_META), ("Id", "TxnDate", "Amount", *_META)),
        _spec("TimeActivity", ("Id", "TxnDate", "NameOf", "EmployeeRef", "VendorRef", "CustomerRef", "ItemRef",
                               "BillableStatus", "Hours", "Minutes", *_META), ("Id", "TxnDate", *_META)),
    )
}


# ---------------------------------------------------------------------------------------------------
# Faults


def _parser_fault(detail: str) -> EmuFault:
    return EmuFault(4000, "Error parsing query", f"QueryParserError: {detail}")


def _validation_fault(detail: str) -> EmuFault:
    return EmuFault(4001, "Invalid query", f"QueryValidationError: {detail}")


def _java_escape(text: str) -> str:
    """JavaCC's ``addEscapes``: backslash escapes, and ``\\uXXXX`` for anything outside printable ASCII."""
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if ch in _JAVA_ESCAPES:
            out.append(_JAVA_ESCAPES[ch])
        elif code == 0:
            continue
        elif code > 0xFFFF:  # Java sees a surrogate pair
            code -= 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        elif code < 0x20 or code > 0x7E:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


_JAVA_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "'": "\\'",
                 "\\": "\\\\"}


# ---------------------------------------------------------------------------------------------------
# Tokens. A token's kind is also its image in JavaCC messages: <NAMED> tokens and "literal" tokens.

EOF = "<EOF>"
IDENT = "<IDENTIFIER>"
STRING = "<STRING_LITERAL>"
INTEGER = "<INTEGER_LITERAL>"
DECIMAL = "<DECIMAL_LITERAL>"
AND = "<AND>"
OR = "<OR>"

_KEYWORDS = {
    word: (f"<{word.upper()}>" if word in ("and", "or") else f'"{word}"')
    for word in ("and", "asc", "by", "count", "desc", "false", "from", "in", "iterator", "like",
                 "maxresults", "or", "order", "orderby", "select", "startposition", "true", "where")
}
KW = _KEYWORDS  # short alias used by the parser

_PUNCT_ORDER = ('"*"', '"("', '")"', '","', '"="', '"!="', '"<"', '"<="', '">"', '">="')
_COMPARISONS = {'"="': "=", '"!="': "!=", '"<"': "<", '"<="': "<=", '">"': ">", '">="': ">="}
_VALUE_KINDS = (STRING, INTEGER, DECIMAL, KW["true"], KW["false"])


def _kind_rank(kind: str) -> tuple[int, int, str]:
    """JavaCC lists expected tokens in declaration order; QBO's is alphabetical, punctuation first."""
    if kind == EOF:
        return (0, 0, "")
    if kind in _PUNCT_ORDER:
        return (1, _PUNCT_ORDER.index(kind), "")
    return (2, 0, kind.strip('<>"').lower())


@dataclass(frozen=True)
class _Token:
    kind: str
    image: str
    line: int
    column: int
    value: Value | None = None


class _Lexer:
    """Produces tokens on demand. Lines and columns are 1-based; CR, LF and CRLF each end a line."""

    def __init__(self, text: str, strict_charset: bool) -> None:
        self.text = text
        self.strict_charset = strict_charset
        self.pos = 0
        self.line = 1
        self.column = 0  # column of the last character read
        self.last = (0, 0)  # (line, column) of the last character read; (0, 0) before any
        self._prev = ""

    def _read(self) -> str:
        ch = self.text[self.pos]
        self.pos += 1
        if self._prev == "\n" or (self._prev == "\r" and ch != "\n"):
            self.line += 1
            self.column = 0
        self.column += 1
        self._prev = ch
        self.last = (self.line, self.column)
        return ch

    def _peek(self, ahead: int = 0) -> str:
        index = self.pos + ahead
        return self.text[index] if index < len(self.text) else ""

    def _lexical_error(self, after: str, at_eof: bool) -> NoReturn:
        """JavaCC's TokenMgrError: at EOF, one column past the last character; else at the bad one."""
        if at_eof:
            line, column = self.last
            column += 1
            found = "<EOF> "
        else:
            code = ord(self._read())
            line, column = self.last
            if code > 0xFFFF:  # Java reads the high surrogate first
                code = 0xD800 + ((code - 0x10000) >> 10)
            found = f'"{_java_escape(chr(code))}" ({code}), '
        raise _parser_fault(
            f"Invalid content. Lexical error at line {line}, column {column}.  "
            f'Encountered: {found}after : "{_java_escape(after)}"'
        )

    def _digit_next(self, ahead: int = 0) -> bool:
        ch = self._peek(ahead)
        return ch.isascii() and ch.isdigit()

    def _name_next(self, ahead: int = 0) -> bool:
        ch = self._peek(ahead)
        return ch.isascii() and (ch.isalpha() or ch == "_")

    def next(self) -> _Token:
        while self._peek() and self._peek() in " \t\n\r\f":
            self._read()
        first = self._peek()
        if not first:
            line, column = self.last
            return _Token(EOF, "", line, column)
        if not (self._name_next() or self._digit_next() or first in "-'<>*(),=!"):
            self._lexical_error("", at_eof=False)  # no token starts with this character
        start = self.pos
        self._read()
        line, column = self.last
        if first.isalpha() or first == "_":
            while self._name_next() or self._digit_next() or (self._peek() == "." and self._name_next(1)):
                self._read()
            image = self.text[start:self.pos]
            return _Token(_KEYWORDS.get(image.lower(), IDENT), image, line, column)
        if first == "-" or first.isdigit():
            if first == "-" and not self._digit_next():
                self._lexical_error("-", at_eof=not self._peek())
            while self._digit_next():
                self._read()
            kind = INTEGER
            if self._peek() == "." and self._digit_next(1):
                kind = DECIMAL
                self._read()
                while self._digit_next():
                    self._read()
            image = self.text[start:self.pos]
            return _Token(kind, image, line, column, Decimal(image))
        if first == "'":
            return self._string(start, line, column)
        if first == "!" and self._peek() != "=":
            self._lexical_error("!", at_eof=not self._peek())
        if first in "<>!" and self._peek() == "=":
            self._read()
        image = self.text[start:self.pos]
        return _Token(f'"{image}"', image, line, column)

    def _string(self, start: int, line: int, column: int) -> _Token:
        chars: list[str] = []
        while True:
            ch = self._peek()
            if not ch:
                self._lexical_error(self.text[start:self.pos], at_eof=True)
            if self.strict_charset and ord(ch) > 0xFF:
                self._lexical_error(self.text[start:self.pos], at_eof=False)
            self._read()
            if ch == "'":
                image = self.text[start:self.pos]
                return _Token(STRING, image, line, column, "".join(chars))
            if ch == "\\":
                nxt = self._peek()
                if not nxt:
                    self._lexical_error(self.text[start:self.pos], at_eof=True)
                if self.strict_charset and ord(nxt) > 0xFF:
                    self._lexical_error(self.text[start:self.pos], at_eof=False)
                self._read()
                chars.append(nxt if nxt in "'\\" else "\\" + nxt)
            else:
                chars.append(ch)


# ---------------------------------------------------------------------------------------------------
# Parser


@dataclass(frozen=True)
class _RawCondition:
    prop: _Token
    op: str
    values: tuple[_Token, ...]


@dataclass(frozen=True)
class _RawStatement:
    count: bool
    entity: _Token
    conditions: list[_RawCondition]
    order: list[tuple[_Token, bool]]
    start: int | None
    maximum: int | None


class _Parser:
    def __init__(self, text: str, strict_charset: bool) -> None:
        self.lexer = _Lexer(text, strict_charset)
        self._ahead: _Token | None = None

    def peek(self) -> _Token:
        if self._ahead is None:
            self._ahead = self.lexer.next()
        return self._ahead

    def take(self) -> _Token:
        token = self.peek()
        self._ahead = None
        return token

    def fail(self, expected: Iterable[str]) -> NoReturn:
        token = self.peek()
        kinds = sorted(set(expected), key=_kind_rank)
        if token.kind == EOF:
            found = '"<EOF>"'
        else:
            found = f'" {token.kind} "{_java_escape(token.image)} ""'
        listing = "".join(f"{kind} {'' if kind == EOF else '...'}\n    " for kind in kinds)
        heading = "Was expecting:" if len(kinds) == 1 else "Was expecting one of:"
        raise _parser_fault(
            f"Encountered {found} at line {token.line}, column {token.column}.\n{heading}\n    {listing}"
        )

    def expect(self, *kinds: str, also: Iterable[str] = ()) -> _Token:
        """Take the next token if it is one of ``kinds``; ``also`` lists optional tokens already passed."""
        if self.peek().kind in kinds:
            return self.take()
        self.fail((*kinds, *also))

    def statement(self) -> _RawStatement:
        self.expect(KW["select"])
        count = False
        if self.peek().kind == '"*"':
            self.take()
            while self.peek().kind == '","':
                self.take()
                self.expect(IDENT)
            self.expect(KW["from"], also=['","'])
        elif self.peek().kind == KW["count"]:
            self.take()
            count = True
            self.expect('"("')
            self.expect('"*"')
            self.expect('")"')
            self.expect(KW["from"])
        else:
            self.fail(['"*"', KW["count"]])
        entity = self.expect(IDENT)

        conditions: list[_RawCondition] = []
        pending: set[str] = {KW["where"]}  # optional tokens that could also have come next
        if self.peek().kind == KW["where"]:
            self.take()
            conditions.append(self.condition())
            while self.peek().kind == AND:
                self.take()
                conditions.append(self.condition())
            pending = {AND, OR}

        order: list[tuple[_Token, bool]] = []
        if self.peek().kind in (KW["order"], KW["orderby"]):
            if self.take().kind == KW["order"]:
                self.expect(KW["by"])
            while True:
                prop = self.expect(IDENT)
                descending = False
                pending = {'","', KW["asc"], KW["desc"]}
                if self.peek().kind in (KW["asc"], KW["desc"]):
                    descending = self.take().kind == KW["desc"]
                    pending = {'","'}
                order.append((prop, descending))
                if self.peek().kind != '","':
                    break
                self.take()
        else:
            pending |= {KW["order"], KW["orderby"]}

        paging: dict[str, int] = {}
        paging_kinds = (KW["startposition"], KW["maxresults"])
        while self.peek().kind in paging_kinds and self.peek().kind not in paging:
            kind = self.take().kind
            paging[kind] = int(self.expect(INTEGER).image)
            pending = set()

        expected = {EOF, KW["iterator"], *pending, *(k for k in paging_kinds if k not in paging)}
        token = self.peek()
        if token.kind == OR:  # QBO's tokenizer knows OR, but OR is not supported
            self.fail(expected - {OR})
        if token.kind == KW["iterator"]:
            raise _parser_fault(
                f"ITERATOR at line {token.line}, column {token.column} is not supported by the emulator"
            )
        self.expect(EOF, also=expected)
        return _RawStatement(count, entity, conditions, order, paging.get(KW["startposition"]),
                             paging.get(KW["maxresults"]))

    def condition(self) -> _RawCondition:
        prop = self.expect(IDENT)
        kind = self.peek().kind
        if kind in _COMPARISONS:
            self.take()
            return _RawCondition(prop, _COMPARISONS[kind], (self.expect(*_VALUE_KINDS),))
        if kind == KW["in"]:
            self.take()
            self.expect('"("')
            values = [self.expect(*_VALUE_KINDS)]
            while self.peek().kind == '","':
                self.take()
                values.append(self.expect(*_VALUE_KINDS))
            self.expect('")"', also=['","'])
            return _RawCondition(prop, "IN", tuple(values))
        if kind == KW["like"]:
            self.take()
            return _RawCondition(prop, "LIKE", (self.expect(STRING),))
        self.fail([*_COMPARISONS, KW["in"], KW["like"]])


def _token_value(token: _Token) -> Value:
    if token.kind == KW["true"]:
        return True
    if token.kind == KW["false"]:
        return False
    assert token.value is not None
    return token.value


@lru_cache(maxsize=256)
def _canonical(names: frozenset[str]) -> dict[str, str]:
    return {name.lower(): name for name in names}


def _is_temporal(prop: str) -> bool:
    return prop.startswith("MetaData.") or prop.endswith(("Date", "Time"))


def _is_idlike(prop: str) -> bool:
    return prop == "Id" or prop.endswith("Ref")


def parse(statement: str, entities: Mapping[str, EntitySpec], *, strict_charset: bool = True) -> Query:
    """Parse and validate one statement against ``entities`` (looked up case-insensitively).

    Raises :class:`EmuFault` 4000 for a syntax error and 4001 for an unknown entity or a property that
    cannot be filtered or sorted. ``strict_charset=False`` allows characters above U+00FF in strings.
    """
    raw = _Parser(statement, strict_charset).statement()

    lookup = {key.lower(): spec for key, spec in entities.items()}
    spec = lookup.get(raw.entity.image.lower())
    if spec is None:
        raise _validation_fault(f"invalid context declaration: {raw.entity.image}")

    queryable = _canonical(spec.queryable)
    conditions: list[Condition] = []
    for clause in raw.conditions:
        prop = queryable.get(clause.prop.image.lower())
        if prop is None:
            raise _validation_fault(f"property '{clause.prop.image}' is not queryable")
        values = tuple(_token_value(token) for token in clause.values)
        if _is_temporal(prop) and clause.op != "LIKE":
            for value in values:
                if _literal_moment(value) is None:
                    raise _validation_fault(
                        f"value '{_text(value)}' is not a valid date for property '{prop}'"
                    )
        conditions.append(Condition(prop, clause.op, values))

    sortable = _canonical(spec.sortable)
    order_by: list[tuple[str, bool]] = []
    for token, descending in raw.order:
        prop = sortable.get(token.image.lower())
        if prop is None:
            raise _validation_fault(f"property '{token.image}' is not queryable")
        order_by.append((prop, descending))

    return Query(
        entity=spec.name,
        count=raw.count,
        conditions=tuple(conditions),
        order_by=tuple(order_by),
        start_position=max(1, raw.start if raw.start is not None else 1),
        max_results=max(0, min(MAX_RESULTS_CAP, MAX_RESULTS_DEFAULT if raw.maximum is None else raw.maximum)),
    )


# ---------------------------------------------------------------------------------------------------
# Values: every document value and literal is reduced to (kind, comparable) so that only like compares
# with like. Kind numbers also order mixed kinds when sorting.

_NUM, _FLAG, _MOMENT, _DAY, _TEXT = range(5)
_ABSENT = object()
_NUMBER_TEXT = re.compile(r"\s*-?\d+(\.\d+)?\s*")


def _text(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@lru_cache(maxsize=131072)
def _moment(text: str) -> datetime | None:
    """A date or datetime as an aware UTC datetime (one tzinfo, so comparisons stay cheap)."""
    try:
        return parse_stamp(text).astimezone(UTC)
    except ValueError:
        return None


@lru_cache(maxsize=131072)
def _day(text: str) -> date | None:
    """The company-local calendar date of a date or datetime."""
    try:
        return parse_stamp(text).astimezone(COMPANY_TZ).date()
    except ValueError:
        return None


def _literal_moment(value: Value) -> datetime | None:
    return _moment(value) if isinstance(value, str) else None


def _literal_forms(value: Value) -> dict[int, Any]:
    """The comparable a literal offers to each kind of document value."""
    forms: dict[int, Any] = {_TEXT: _text(value).casefold()}
    if isinstance(value, bool):
        forms[_FLAG] = value
    elif isinstance(value, Decimal):
        forms[_NUM] = value
    else:
        if _NUMBER_TEXT.fullmatch(value):
            forms[_NUM] = Decimal(value.strip())
        if value.strip().casefold() in ("true", "false"):
            forms[_FLAG] = value.strip().casefold() == "true"
        moment = _moment(value)
        if moment is not None:
            forms[_MOMENT] = moment
            forms[_DAY] = _day(value)
    return forms


def _ref_value(value: dict[str, Any]) -> Any:
    for key in ("value", "Address", "FreeFormNumber", "URI"):
        if key in value:
            return value[key]
    return None


def _to_decimal(value: int | float | Decimal) -> Decimal | int:
    if isinstance(value, float):
        return Decimal(str(value))
    return value


def _normalizer(prop: str) -> Callable[[Any], tuple[int, Any] | None]:
    temporal = _is_temporal(prop)
    idlike = _is_idlike(prop)

    def normalize(value: Any) -> tuple[int, Any] | None:
        kind = type(value)
        if kind is dict:
            value = _ref_value(value)
            kind = type(value)
        if kind is str:
            if temporal and value:
                if len(value) == 10:
                    day = _day(value)
                    if day is not None:
                        return (_DAY, day)
                else:
                    moment = _moment(value)
                    if moment is not None:
                        return (_MOMENT, moment)
            if idlike and value.isascii() and value.isdigit():
                return (_NUM, int(value))
            return (_TEXT, value.casefold())
        if kind is bool:
            return (_FLAG, value)
        if value is None:
            return None
        if isinstance(value, (int, float, Decimal)):
            return (_NUM, _to_decimal(value))
        if isinstance(value, str):  # a str subclass
            return normalize(str(value))
        return None

    return normalize


def _getter(prop: str) -> Callable[[dict[str, Any]], Any]:
    if prop == "Type":
        def kind(doc: dict[str, Any]) -> Any:  # a RecurringTransaction's Type is the template's entity
            return doc.get("Type", doc.get("_kind"))
        return kind
    if prop == "Active":
        def active(doc: dict[str, Any]) -> Any:
            value = doc.get("Active")
            return True if value is None else value
        return active
    parts = prop.split(".")
    if len(parts) == 1:
        name = parts[0]

        def plain(doc: dict[str, Any]) -> Any:
            return doc.get(name)
        return plain

    def nested(doc: dict[str, Any]) -> Any:
        current: Any = doc
        for part in parts:
            if isinstance(current, list):  # a list of objects (AttachableRef): its first one
                current = current[0] if current else None
            if not isinstance(current, dict):
                return None
            current = current.get(part)
        return current
    return nested


_TESTS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "!=": operator.ne, "<": operator.lt, ">": operator.gt, "<=": operator.le, ">=": operator.ge,
    "IN": lambda value, options: value in options,
}


def _like_pattern(pattern: str) -> re.Pattern[str]:
    pieces = pattern.casefold().split("%")
    return re.compile(".*".join(re.escape(piece) for piece in pieces), re.DOTALL)


Predicate = Callable[[dict[str, Any]], bool]


def _compile(condition: Condition) -> Predicate:
    get = _getter(condition.prop)
    normalize = _normalizer(condition.prop)

    if condition.op == "LIKE":
        match = _like_pattern(_text(condition.values[0])).fullmatch

        def like(doc: dict[str, Any]) -> bool:
            value = get(doc)
            if isinstance(value, dict):
                value = _ref_value(value)
            if value is None:
                return False
            text = _text(value).casefold() if isinstance(value, bool) else str(value).casefold()
            return match(text) is not None
        return like

    targets: dict[int, Any]
    if condition.op == "IN":
        grouped: dict[int, set[Any]] = {}
        for value in condition.values:
            for kind, form in _literal_forms(value).items():
                grouped.setdefault(kind, set()).add(form)
        targets = {kind: frozenset(forms) for kind, forms in grouped.items()}
    else:
        targets = _literal_forms(condition.values[0])
    test = _TESTS[condition.op]

    def compare(doc: dict[str, Any]) -> bool:
        found = normalize(get(doc))
        if found is None:
            return False
        target = targets.get(found[0], _ABSENT)
        if target is _ABSENT:
            return condition.op == "!="  # a value of another kind is never equal
        return bool(test(found[1], target))
    return compare


def _all_of(predicates: list[Predicate]) -> Predicate | None:
    if not predicates:
        return None
    if len(predicates) == 1:
        return predicates[0]
    if len(predicates) == 2:
        first, second = predicates
        return lambda doc: first(doc) and second(doc)
    return lambda doc: all(predicate(doc) for predicate in predicates)


def _id_key(doc: dict[str, Any]) -> tuple[Any, ...]:
    value = doc.get("Id")
    if type(value) is str and value.isascii() and value.isdigit():
        return (1, _NUM, int(value))
    return _general_key("Id")(doc)


def _sort_key(prop: str) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    return _id_key if prop == "Id" else _general_key(prop)


@lru_cache(maxsize=64)
def _general_key(prop: str) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    get = _getter(prop)
    normalize = _normalizer(prop)

    def key(doc: dict[str, Any]) -> tuple[Any, ...]:
        found = normalize(get(doc))
        return (0,) if found is None else (1, *found)
    return key


def _is_active(doc: dict[str, Any]) -> bool:
    return doc.get("Active") is not False


def execute(query: Query, docs: Iterable[dict[str, Any]], spec: EntitySpec) -> dict[str, Any]:
    """Run ``query`` over ``docs`` and return the body of ``QueryResponse``.

    Rows: ``{"<Entity>": [...], "startPosition": s, "maxResults": <rows returned>}``, or ``{}`` when the
    page is empty. ``COUNT(*)``: ``{"totalCount": n}`` over every match, paging ignored. The documents
    returned are the input objects themselves; nothing is copied or changed.
    """
    predicates = [_compile(condition) for condition in query.conditions]
    if spec.name_list and not any(condition.prop == "Active" for condition in query.conditions):
        predicates.append(_is_active)
    keep = _all_of(predicates)
    rows = list(docs) if keep is None else [doc for doc in docs if keep(doc)]

    if query.count:
        return {"totalCount": len(rows)}

    # Stable multi-pass sort: Id ascending first (the tie-breaker), then each key from last to first.
    # Keys after an Id key can never matter, since Ids are unique.
    keys: list[tuple[str, bool]] = []
    for prop, descending in query.order_by:
        keys.append((prop, descending))
        if prop == "Id":
            break
    if keys[-1:] != [("Id", False)]:
        rows.sort(key=_sort_key("Id"))
    for prop, descending in reversed(keys):
        rows.sort(key=_sort_key(prop), reverse=descending)

    start = max(1, query.start_position)
    page = rows[start - 1:start - 1 + max(0, min(query.max_results, MAX_RESULTS_CAP))]
    if not page:
        return {}
    return {spec.name: page, "startPosition": start, "maxResults": len(page)}

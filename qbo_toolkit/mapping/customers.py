"""WORK clients <-> QBO Customers.

One declarative table, :data:`CLIENT_FIELDS`, says for every synced client field how to read it
from a WORK :class:`~qbo_toolkit.work.models.Client`, how to read it from a QBO Customer (a
JSON-shaped dict, as QBO sends it or as python-quickbooks' ``to_dict()`` gives it: ``""`` and None
count as absent), which QBO field carries it, QBO's length limit, and how to write it. Everything
else here is derived from that table:

* :func:`client_values` / :func:`customer_values`: the same keys on both sides (``display_name``,
  ``billing.state``, ``active``, ...), trimmed text, so the sync can compare field by field;
* :func:`sparse_customer_fields`: the QBO fields of a sparse update for some keys (an address is
  always sent whole; a cleared text field is sent as ``""`` and a cleared object as null, which
  is how a sparse update removes a value);
* :func:`client_to_customer`: the create payload (empty fields omitted);
* :func:`validate_client`: every value QBO would refuse, as :class:`FieldProblem` naming the WORK
  field, and every US address whose state is not a US state (:func:`state_problems`, also run on
  the values an update sends). Nothing is truncated or altered to fit a limit (values are only
  trimmed of surrounding whitespace, which QBO trims itself).

Sub-clients become QBO sub-customers (``Job``, ``ParentRef``, ``BillWithParent``); the parent's QBO
id comes from the caller's id map, so the parent link is not one of the compared fields.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from qbo_toolkit.control_chars import control_problem
from qbo_toolkit.mapping._common import changed_fields, fingerprint, get_path, ref_value, text
from qbo_toolkit.mapping.addresses import keep_equivalent
from qbo_toolkit.mapping.names import check_display_name
from qbo_toolkit.mapping.problems import FieldProblem
from qbo_toolkit.mapping.states import state_problem
from qbo_toolkit.work.models import Address, Client

__all__ = [
    "CLIENT_FIELDS",
    "CLIENT_KEYS",
    "ClientField",
    "ClientValues",
    "Value",
    "changed_fields",
    "client_to_customer",
    "client_values",
    "control_problems",
    "customer_level",
    "customer_parent_fields",
    "customer_parent_id",
    "customer_to_client_fields",
    "customer_values",
    "equivalent_values",
    "fingerprint",
    "sparse_customer_fields",
    "state_problems",
    "validate_client",
    "values_agree",
]

Value: TypeAlias = str | bool | None
ClientValues: TypeAlias = dict[str, Value]
Reader: TypeAlias = Callable[[Any], Value]
Writer: TypeAlias = Callable[[Mapping[str, Value]], Any]

_EMAIL: Final = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_EMAIL_MAX: Final = 100

#: WORK address attribute -> QBO PhysicalAddress field, QBO length limit.
_ADDRESS_PARTS: Final[tuple[tuple[str, str, int], ...]] = (
    ("line1", "Line1", 500),
    ("line2", "Line2", 500),
    ("city", "City", 255),
    ("state", "CountrySubDivisionCode", 255),
    ("postal_code", "PostalCode", 30),
    ("country", "Country", 255),
)
_EXTRA_LINES: Final = ("Line2", "Line3", "Line4", "Line5")


@dataclass(frozen=True)
class ClientField:
    """One synced client field.

    ``key`` is the name on both sides of a comparison (``"billing.city"``); ``qbo_field`` the
    top-level Customer field that carries it (several keys share ``BillAddr``); ``limit`` QBO's
    maximum length (None: no limit to check); ``write`` builds the QBO value of ``qbo_field`` from
    a complete values dict (``""`` or None when the value is cleared).
    """

    key: str
    qbo_field: str
    from_client: Reader
    from_customer: Reader
    write: Writer
    limit: int | None = None


def _client_attr(name: str) -> Reader:
    return lambda client: text(getattr(client, name))


def _client_address_attr(which: str, part: str) -> Reader:
    return lambda client: text(getattr(getattr(client, which), part))


def _customer_text(qbo_field: str, *inner: str) -> Reader:
    return lambda customer: text(get_path(customer, qbo_field, *inner))


def _customer_address(qbo_field: str, qbo_part: str) -> Reader:
    if qbo_part != "Line2":
        return _customer_text(qbo_field, qbo_part)

    def read(customer: Any) -> Value:
        # WORK has two address lines: QBO's Line2..Line5 are kept together in line2.
        lines = (text(get_path(customer, qbo_field, name)) for name in _EXTRA_LINES)
        return ", ".join(line for line in lines if line)

    return read


def _customer_active(customer: Any) -> Value:
    active = customer.get("Active")
    if isinstance(active, str):
        return active.strip().lower() != "false"
    return active is not False


def _write_text(key: str) -> Writer:
    return lambda values: text(values[key])


def _write_object(key: str, inner: str) -> Writer:
    def write(values: Mapping[str, Value]) -> Any:
        value = text(values[key])
        return {inner: value} if value else None

    return write


def _write_address(which: str) -> Writer:
    def write(values: Mapping[str, Value]) -> Any:
        missing = [f"{which}.{part}" for part, _, _ in _ADDRESS_PARTS if f"{which}.{part}" not in values]
        if missing:
            raise ValueError(f"an address is sent whole: values lack {', '.join(missing)}")
        address = {qbo: text(values[f"{which}.{part}"]) for part, qbo, _ in _ADDRESS_PARTS}
        address = {qbo: value for qbo, value in address.items() if value}
        return address or None

    return write


def _write_active(values: Mapping[str, Value]) -> Any:
    return values["active"] is not False


def _text_field(key: str, qbo_field: str, limit: int | None) -> ClientField:
    return ClientField(key, qbo_field, _client_attr(key), _customer_text(qbo_field), _write_text(key), limit)


def _contact_field(key: str, qbo_field: str, inner: str, limit: int) -> ClientField:
    return ClientField(
        key, qbo_field, _client_attr(key), _customer_text(qbo_field, inner), _write_object(key, inner), limit
    )


def _address_fields(which: str, qbo_field: str) -> tuple[ClientField, ...]:
    return tuple(
        ClientField(
            f"{which}.{part}",
            qbo_field,
            _client_address_attr(which, part),
            _customer_address(qbo_field, qbo_part),
            _write_address(which),
            limit,
        )
        for part, qbo_part, limit in _ADDRESS_PARTS
    )


#: The synced client fields, in display order. DisplayName's rules (no ``:``, ≤ 500) are checked
#: by :func:`~qbo_toolkit.mapping.names.check_display_name`, hence no ``limit`` here.
CLIENT_FIELDS: Final[tuple[ClientField, ...]] = (
    _text_field("display_name", "DisplayName", None),
    _text_field("company_name", "CompanyName", 100),
    _text_field("first_name", "GivenName", 100),
    _text_field("last_name", "FamilyName", 100),
    _contact_field("email", "PrimaryEmailAddr", "Address", _EMAIL_MAX),
    _contact_field("phone", "PrimaryPhone", "FreeFormNumber", 30),
    _contact_field("mobile", "Mobile", "FreeFormNumber", 30),
    *_address_fields("billing", "BillAddr"),
    *_address_fields("service", "ShipAddr"),
    _text_field("notes", "Notes", 2000),
    ClientField("active", "Active", lambda client: bool(client.active), _customer_active, _write_active),
)

#: Keys whose text may hold tabs and line breaks (no other control character is sent).
_MULTILINE_KEYS: Final = frozenset({"notes", "billing.line1", "billing.line2", "service.line1", "service.line2"})
#: The keys of :data:`CLIENT_FIELDS`, in order.
CLIENT_KEYS: Final[tuple[str, ...]] = tuple(f.key for f in CLIENT_FIELDS)
_BY_KEY: Final[Mapping[str, ClientField]] = {f.key: f for f in CLIENT_FIELDS}
_COUNTRY_KEYS: Final = ("billing.country", "service.country")


def client_values(client: Client) -> ClientValues:
    """The synced fields of a WORK client, keyed by :data:`CLIENT_KEYS` (text trimmed)."""
    return {f.key: f.from_client(client) for f in CLIENT_FIELDS}


def customer_values(customer: Mapping[str, Any]) -> ClientValues:
    """The synced fields of a QBO Customer dict, over the same keys as :func:`client_values`."""
    return {f.key: f.from_customer(customer) for f in CLIENT_FIELDS}


def equivalent_values(values: Mapping[str, Value], *others: Mapping[str, Value] | None) -> ClientValues:
    """``values`` (one side's) with each address country that names the same country as in the first
    of ``others`` (the other side's, then the last synced values) spelt as there: QBO's ``"USA"``
    compares equal to WORK's ``"US"`` (:func:`~qbo_toolkit.mapping.addresses.keep_equivalent`)."""
    return keep_equivalent(values, *others, keys=_COUNTRY_KEYS)


def values_agree(a: Mapping[str, Value], b: Mapping[str, Value]) -> bool:
    """Whether two values dicts hold the same client, countries compared in canonical form."""
    return dict(equivalent_values(a, b)) == dict(b)


def sparse_customer_fields(values: Mapping[str, Value], keys: Iterable[str] | None = None) -> dict[str, Any]:
    """The QBO fields of a sparse update that sets ``keys`` (default: every key in ``values``).

    ``values`` is a complete values dict (from :func:`client_values`), because an address is
    sent whole when any of its parts changed. A cleared text field is sent as ``""``, a cleared
    e-mail, phone or address as None (JSON null). ``Id``, ``SyncToken`` and ``sparse`` are the
    client's business. Unknown keys raise ValueError.
    """
    wanted = list(values if keys is None else keys)
    unknown = [key for key in wanted if key not in _BY_KEY]
    if unknown:
        raise ValueError(f"not synced client fields: {', '.join(unknown)}")
    qbo_fields = {_BY_KEY[key].qbo_field: _BY_KEY[key] for key in wanted}
    return {qbo_field: spec.write(values) for qbo_field, spec in qbo_fields.items()}


def customer_parent_fields(parent_qbo_id: str | None, *, bill_with_parent: bool = True) -> dict[str, Any]:
    """The QBO fields that make a customer a sub-customer of ``parent_qbo_id`` (``Job``,
    ``ParentRef``, ``BillWithParent``), or a top-level customer when it is None (for a sparse
    update that detaches it)."""
    if parent_qbo_id is None:
        return {"Job": False, "ParentRef": None, "BillWithParent": False}
    return {"Job": True, "ParentRef": {"value": str(parent_qbo_id)}, "BillWithParent": bill_with_parent}


def client_to_customer(
    client: Client,
    *,
    parent_qbo_id: str | None = None,
    display_name: str | None = None,
    bill_with_parent: bool = True,
) -> dict[str, Any]:
    """The QBO Customer create payload for ``client``; empty fields are left out.

    ``display_name`` replaces the client's name (e.g. a :func:`~qbo_toolkit.mapping.names.suffixed_name`
    after a duplicate-name refusal). A sub-client (``parent_id`` set) needs ``parent_qbo_id``, the
    QBO id of its parent, and becomes a sub-customer billed with its parent unless
    ``bill_with_parent=False``; ValueError otherwise, or when a top-level client is given a
    parent. Values are sent as they are (trimmed): run :func:`validate_client` first.
    """
    if client.parent_id is not None and not parent_qbo_id:
        raise ValueError(f"client {client.id} is a sub-client of {client.parent_id}: pass its parent's QBO id")
    if client.parent_id is None and parent_qbo_id:
        raise ValueError(f"client {client.id} has no parent in WORK, yet a parent QBO id was given")
    values = client_values(client)
    if display_name is not None:
        values["display_name"] = text(display_name)
    payload = {
        name: value for name, value in sparse_customer_fields(values).items() if value is not None and value != ""
    }
    if parent_qbo_id:
        payload.update(customer_parent_fields(parent_qbo_id, bill_with_parent=bill_with_parent))
    return payload


def customer_parent_id(customer: Mapping[str, Any]) -> str | None:
    """The QBO id of a customer's parent (``ParentRef``), None for a top-level customer."""
    return ref_value(customer, "ParentRef") or None


def customer_level(customer: Mapping[str, Any]) -> int:
    """How deep a customer sits: 0 top level, 1 a sub-customer, ... (``Level``, else 1 when it has
    a parent, else 0)."""
    level = customer.get("Level")
    if isinstance(level, int) and not isinstance(level, bool) and level > 0:
        return level
    if isinstance(level, str) and level.strip().isdigit() and int(level) > 0:
        return int(level)
    return 1 if customer_parent_id(customer) else 0


def customer_to_client_fields(customer: Mapping[str, Any], *, default_state: str | None) -> dict[str, Any]:
    """The WORK client fields held by a QBO Customer: keyword arguments for ``Client(id=..., **fields)``
    or ``dataclasses.replace(client, **fields)`` (``billing`` and ``service`` as :class:`Address`).

    With ``default_state`` (the company's "use default state when blank" setting), an empty
    billing state gets it, and so does an empty service state when the customer has a service
    (ship-to) address. The parent link (:func:`customer_parent_id`) is left to the caller's id map.
    """
    values = customer_values(customer)
    fields: dict[str, Any] = {
        key: value for key, value in values.items() if "." not in key
    }
    state = text(default_state)
    for which in ("billing", "service"):
        parts = {part: text(values[f"{which}.{part}"]) for part, _, _ in _ADDRESS_PARTS}
        address = Address(**parts)
        if state and not address.state and (which == "billing" or not address.empty):
            address = Address(**{**parts, "state": state})
        fields[which] = address
    return fields


def state_problems(
    values: Mapping[str, Value], record: str, *, keys: Iterable[str] | None = None
) -> list[FieldProblem]:
    """Billing and service addresses in the United States (country blank or US) whose state is not a
    US state, territory or DC (:func:`~qbo_toolkit.mapping.states.state_problem`), as problems on
    ``billing.state`` / ``service.state``. ``values`` is a complete values dict; with ``keys`` (the
    keys an update sends) only an address with its state or country among them is checked."""
    wanted = None if keys is None else set(keys)
    problems: list[FieldProblem] = []
    for which in ("billing", "service"):
        state_key, country_key = f"{which}.state", f"{which}.country"
        if wanted is not None and state_key not in wanted and country_key not in wanted:
            continue
        message = state_problem(text(values.get(state_key)), text(values.get(country_key)))
        if message is not None:
            problems.append(FieldProblem("client", record, state_key, f"{which} address: {message}"))
    return problems


def control_problems(
    values: Mapping[str, Value], record: str, *, keys: Iterable[str] | None = None
) -> list[FieldProblem]:
    """Text in ``values`` (or only its ``keys``) holding a control character it may not (a NUL, an
    escape, ...; a tab or line break outside the notes and address lines 1 and 2), as problems on
    those keys: such text is never sent to QBO (:mod:`qbo_toolkit.control_chars`)."""
    problems: list[FieldProblem] = []
    for key in values if keys is None else keys:
        value = values.get(key)
        if isinstance(value, str):
            control = control_problem(value, multiline=key in _MULTILINE_KEYS)
            if control is not None:
                problems.append(FieldProblem("client", record, key, f"{key} {control}"))
    return problems


def validate_client(client: Client) -> list[FieldProblem]:
    """Every value of ``client`` that QBO would refuse, in :data:`CLIENT_FIELDS` order.

    DisplayName: empty, ``:``/tab/new line, another control character, more than 500 characters.
    Other fields: a control character (:func:`control_problems`), longer than
    QBO allows (company, first and last name 100; e-mail 100; phones 30; address lines 500, city
    and state 255, postal code 30, country 255; notes 2000). An e-mail needs ``@`` and a dot after it.
    A US address (country blank or US) needs a US state or none (:func:`state_problems`).
    """
    record = str(client.id)
    problems: list[FieldProblem] = []
    values = client_values(client)
    name_problem = check_display_name(text(values["display_name"]))
    if name_problem is not None:
        problems.append(FieldProblem("client", record, "display_name", name_problem.message))
    for spec in CLIENT_FIELDS:
        value = values[spec.key]
        controls = [] if spec.key == "display_name" else control_problems({spec.key: value}, record)
        if controls:  # never sent: one problem is enough for this field
            problems.extend(controls)
            continue
        if spec.limit is not None and isinstance(value, str) and len(value) > spec.limit:
            qbo_name = spec.qbo_field if "." not in spec.key else f"{spec.qbo_field} ({spec.key})"
            problems.append(
                FieldProblem(
                    "client",
                    record,
                    spec.key,
                    f"{len(value)} characters; QBO allows at most {spec.limit} in {qbo_name}",
                )
            )
        if spec.key == "email" and isinstance(value, str) and value and not _EMAIL.match(value):
            problems.append(
                FieldProblem(
                    "client",
                    record,
                    "email",
                    f"{value!r} is not an e-mail address QBO accepts (it needs an @ and a dot, no spaces)",
                )
            )
    problems.extend(p for p in state_problems(values, record) if p.field not in {q.field for q in problems})
    return problems

"""The WORK tables (SQLAlchemy Core) and their versioned migrations.

Everything lives in one :data:`metadata` with table names prefixed ``work_``, so the sync engine can
create its own tables (id map, activity log) on the same engine without clashing.

Column types are chosen for exactness on every backend:

* Money is :class:`ScaledDecimal` (2 places). On PostgreSQL and friends it is ``NUMERIC(18, 2)``;
  on SQLite, whose NUMERIC affinity stores REAL (binary floating point) and makes SQLAlchemy warn,
  it is stored as an INTEGER count of cents. Either way Python sees an exact ``Decimal`` to the cent.
  Quantities use the same type with 4 places.
* Timestamps are :class:`UtcDateTime`: aware UTC ``datetime`` in Python whatever the backend keeps.
* Rows of clients, items, invoices and payments carry ``version`` (this row's edit count, from 1),
  ``revision`` (a store-wide counter kept in :data:`revision_counter`) and ``updated_at``.

Migrations: :data:`MIGRATIONS` is an ordered list of steps; :func:`migrate` applies the pending ones
in one transaction and records each in ``work_schema_version``. Version 1 creates every table as
declared below. The Table objects describe the *latest* schema: a later step may add tables or
indexes freely, but a step that alters a column of an existing table must also freeze version 1
(give step 1 its own copy of that table's original shape), or a fresh database would get the new
column from step 1 and then fail in the later step.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    insert,
    select,
)
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlalchemy.types import TypeDecorator, TypeEngine

from ..errors import ConfigError

__all__ = [
    "MIGRATIONS",
    "Migration",
    "ScaledDecimal",
    "UtcDateTime",
    "clients",
    "company",
    "credit_applications",
    "credit_notes",
    "current_version",
    "ensure_tables",
    "invoice_lines",
    "invoices",
    "items",
    "latest_version",
    "metadata",
    "migrate",
    "payments",
    "refunds",
    "revision_counter",
    "schema_version",
    "tax_rates",
    "trim_decimal",
]


# --------------------------------------------------------------------------------------------
# Column types
# --------------------------------------------------------------------------------------------


class ScaledDecimal(TypeDecorator[Decimal]):
    """An exact decimal with ``scale`` places: NUMERIC(18, scale), or scaled INTEGER on SQLite.

    Binding a value with more places than ``scale`` raises ValueError instead of rounding: the
    store validates first, so reaching this is a bug, and silent rounding would hide it. Values come
    back with exactly ``scale`` places (money: ``Decimal("0.10")``), or with ``trim=True`` without
    trailing zeros (quantities: ``Decimal("1.5")``, ``Decimal("2")``), the same on every backend.
    """

    impl = Numeric
    cache_ok = True

    def __init__(self, scale: int = 2, *, trim: bool = False) -> None:
        super().__init__(precision=18, scale=scale, asdecimal=True)
        self.scale = scale
        self.trim = trim

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(18, self.scale, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        number = value if isinstance(value, Decimal) else Decimal(str(value))
        scaled = number.scaleb(self.scale)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{value!r} has more than {self.scale} decimal places")
        if dialect.name == "sqlite":
            return int(scaled)
        return number.quantize(Decimal(1).scaleb(-self.scale))

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            # SUM() over an INTEGER column stays an integer; anything else is a bug worth seeing.
            number = Decimal(int(value)).scaleb(-self.scale)
        else:
            number = value if isinstance(value, Decimal) else Decimal(str(value))
            number = number.quantize(Decimal(1).scaleb(-self.scale))
        return trim_decimal(number) if self.trim else number


def trim_decimal(number: Decimal) -> Decimal:
    """``number`` without trailing zeros after the point, never in exponent form (10, not 1E+1)."""
    if number == number.to_integral_value():
        return number.quantize(_ONE) if number else _ONE - _ONE
    return number.normalize()  # a non-integer never normalizes to a positive exponent


_ONE: Final = Decimal(1)


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC ``datetime`` in Python; naive UTC where the backend has no time zones (SQLite)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"updated_at must be an aware datetime, not {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _money() -> ScaledDecimal:
    return ScaledDecimal(2)


def _tracking() -> list[Column[Any]]:
    """version / revision / updated_at, shared by every synced table."""
    return [
        Column("version", Integer, nullable=False, default=1),
        Column("revision", BigInteger, nullable=False),
        Column("updated_at", UtcDateTime(), nullable=False),
    ]


def _address(prefix: str) -> list[Column[Any]]:
    return [
        Column(f"{prefix}_{part}", String, nullable=False, default="")
        for part in ("line1", "line2", "city", "state", "postal_code", "country")
    ]


# --------------------------------------------------------------------------------------------
# Tables (latest shape)
# --------------------------------------------------------------------------------------------

metadata: Final = MetaData()

schema_version: Final = Table(
    "work_schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", String, nullable=False),
    Column("applied_at", UtcDateTime(), nullable=False),
)

revision_counter: Final = Table(
    "work_revision_counter",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("value", BigInteger, nullable=False),
    CheckConstraint("id = 1", name="ck_work_revision_counter_single_row"),
)

company: Final = Table(
    "work_company",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("name", String, nullable=False),
    Column("default_state", String, nullable=False, default=""),
    Column("country", String, nullable=False, default="US"),
    Column("time_zone", String, nullable=False, default="America/Los_Angeles"),
    CheckConstraint("id = 1", name="ck_work_company_single_row"),
)

clients: Final = Table(
    "work_clients",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("display_name", String, nullable=False),
    Column("company_name", String, nullable=False, default=""),
    Column("first_name", String, nullable=False, default=""),
    Column("last_name", String, nullable=False, default=""),
    Column("email", String, nullable=False, default=""),
    Column("phone", String, nullable=False, default=""),
    Column("mobile", String, nullable=False, default=""),
    *_address("billing"),
    *_address("service"),
    Column("notes", Text, nullable=False, default=""),
    Column("active", Boolean, nullable=False, default=True),
    Column("parent_id", Integer, ForeignKey("work_clients.id", name="fk_work_clients_parent"), nullable=True),
    *_tracking(),
)

items: Final = Table(
    "work_items",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String, nullable=False, unique=True),
    Column("type", String, nullable=False),
    Column("rate", _money(), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    *_tracking(),
    CheckConstraint("type IN ('service', 'product')", name="ck_work_items_type"),
)

invoices: Final = Table(
    "work_invoices",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("number", String, nullable=False, unique=True),
    Column("client_id", Integer, ForeignKey("work_clients.id", name="fk_work_invoices_client"), nullable=False),
    Column("issue_date", Date, nullable=False),
    Column("due_date", Date, nullable=True),
    Column("status", String, nullable=False),
    Column("tax_amount", _money(), nullable=False),
    Column("total", _money(), nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    *_tracking(),
    # Version 3: the WORK payment term ("Net 15"; "" = none), mapped to a QBO Term by the settings.
    Column("terms", String, nullable=False, default="", server_default=""),
    CheckConstraint("status IN ('draft', 'open', 'void')", name="ck_work_invoices_status"),
)

invoice_lines: Final = Table(
    "work_invoice_lines",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "invoice_id",
        Integer,
        ForeignKey("work_invoices.id", name="fk_work_invoice_lines_invoice", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("line_no", Integer, nullable=False),
    Column("item_id", Integer, ForeignKey("work_items.id", name="fk_work_invoice_lines_item"), nullable=True),
    Column("description", Text, nullable=False, default=""),
    Column("qty", ScaledDecimal(4, trim=True), nullable=False),
    Column("unit_price", _money(), nullable=False),
    Column("taxable", Boolean, nullable=False, default=False),
    # Version 3: the name of the line's WORK tax rate (work_tax_rates.name; "" = none).
    Column("tax_rate", String, nullable=False, default="", server_default=""),
    UniqueConstraint("invoice_id", "line_no", name="uq_work_invoice_lines_invoice_line"),
)

payments: Final = Table(
    "work_payments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("invoice_id", Integer, ForeignKey("work_invoices.id", name="fk_work_payments_invoice"), nullable=False),
    Column("date", Date, nullable=False),
    Column("amount", _money(), nullable=False),
    Column("method", String, nullable=False, default=""),
    Column("reference", String, nullable=False, default=""),
    Column("deleted", Boolean, nullable=False, default=False),
    *_tracking(),
)

# ---- version 3: tax rates, credit notes and their applications, refunds ----------------------

tax_rates: Final = Table(
    "work_tax_rates",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String, nullable=False, unique=True),
    Column("rate", ScaledDecimal(4, trim=True), nullable=False),  # percent: 8.25 means 8.25 %
    Column("active", Boolean, nullable=False, default=True),
)

credit_notes: Final = Table(
    "work_credit_notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("number", String, nullable=False, unique=True),
    Column("client_id", Integer, ForeignKey("work_clients.id", name="fk_work_credit_notes_client"), nullable=False),
    Column("date", Date, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("item_id", Integer, ForeignKey("work_items.id", name="fk_work_credit_notes_item"), nullable=True),
    Column("amount", _money(), nullable=False),
    Column("tax_rate", String, nullable=False, default=""),
    Column("tax_amount", _money(), nullable=False),
    Column("total", _money(), nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    *_tracking(),
)

credit_applications: Final = Table(
    "work_credit_applications",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "credit_note_id",
        Integer,
        ForeignKey("work_credit_notes.id", name="fk_work_credit_applications_credit_note"),
        nullable=False,
    ),
    Column(
        "invoice_id",
        Integer,
        ForeignKey("work_invoices.id", name="fk_work_credit_applications_invoice"),
        nullable=False,
    ),
    Column("date", Date, nullable=False),
    Column("amount", _money(), nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    *_tracking(),
)

refunds: Final = Table(
    "work_refunds",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("client_id", Integer, ForeignKey("work_clients.id", name="fk_work_refunds_client"), nullable=False),
    Column("date", Date, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("item_id", Integer, ForeignKey("work_items.id", name="fk_work_refunds_item"), nullable=True),
    Column("amount", _money(), nullable=False),
    Column("tax_rate", String, nullable=False, default=""),
    Column("tax_amount", _money(), nullable=False),
    Column("total", _money(), nullable=False),
    Column("method", String, nullable=False, default=""),
    Column("reference", String, nullable=False, default=""),
    Column("deleted", Boolean, nullable=False, default=False),
    *_tracking(),
)

# Indexes are declared here (so ``metadata`` shows the latest schema) and created by the step that
# introduced them, never by CREATE TABLE: that keeps step 1 producing a true version-1 database.
_V1_INDEXES: Final = (
    Index("ix_work_clients_parent_id", clients.c.parent_id),
    Index("ix_work_invoices_client_id", invoices.c.client_id),
    Index("ix_work_payments_invoice_id", payments.c.invoice_id),
)
_V2_INDEXES: Final = (
    Index("ix_work_clients_revision", clients.c.revision),
    Index("ix_work_items_revision", items.c.revision),
    Index("ix_work_invoices_revision", invoices.c.revision),
    Index("ix_work_payments_revision", payments.c.revision),
)
_V3_INDEXES: Final = (
    Index("ix_work_credit_notes_client_id", credit_notes.c.client_id),
    Index("ix_work_credit_notes_revision", credit_notes.c.revision),
    Index("ix_work_credit_applications_credit_note_id", credit_applications.c.credit_note_id),
    Index("ix_work_credit_applications_invoice_id", credit_applications.c.invoice_id),
    Index("ix_work_credit_applications_revision", credit_applications.c.revision),
    Index("ix_work_refunds_client_id", refunds.c.client_id),
    Index("ix_work_refunds_revision", refunds.c.revision),
)
_V3_TABLES: Final = (tax_rates, credit_notes, credit_applications, refunds)
#: Columns version 3 adds to version-1 tables (ALTER TABLE ... ADD COLUMN).
_V3_COLUMNS: Final = (invoices.c.terms, invoice_lines.c.tax_rate)


def _frozen_v1_tables() -> tuple[Table, ...]:
    """Version 1's tables exactly as version 1 created them.

    Later steps add columns to ``work_invoices`` and ``work_invoice_lines``; step 1 must not create
    those (a fresh database would then fail in the step that adds them), so it builds from copies
    on a metadata of its own, without the columns later steps add.
    """
    frozen = MetaData()
    added = {(column.table.name, column.name) for column in _V3_COLUMNS}
    copies = []
    for table in (revision_counter, company, clients, items, invoices, invoice_lines, payments):
        copy = table.to_metadata(frozen)
        for column in list(copy.columns):
            if (table.name, column.name) in added:
                copy._columns.remove(column)  # the one way to drop a column from a copy
        copies.append(copy)
    return tuple(copies)


# --------------------------------------------------------------------------------------------
# Migrations
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Migration:
    """One schema step: ``apply`` runs inside :func:`migrate`'s transaction."""

    version: int
    description: str
    apply: Callable[[Connection], None]


def _v1_create(conn: Connection) -> None:
    for table in _frozen_v1_tables():
        conn.execute(CreateTable(table))
    for index in _V1_INDEXES:
        conn.execute(CreateIndex(index))
    conn.execute(insert(revision_counter).values(id=1, value=0))


def _v2_revision_indexes(conn: Connection) -> None:
    # changed_*(after_revision) is how the sync finds work: make it an index range scan.
    for index in _V2_INDEXES:
        conn.execute(CreateIndex(index))


def _v3_tax_terms_credits_refunds(conn: Connection) -> None:
    for column in _V3_COLUMNS:
        kind = column.type.compile(dialect=conn.dialect)
        target = conn.dialect.identifier_preparer.format_table(column.table)
        name = conn.dialect.identifier_preparer.quote(column.name)
        conn.exec_driver_sql(f"ALTER TABLE {target} ADD COLUMN {name} {kind} NOT NULL DEFAULT ''")
    for table in _V3_TABLES:
        conn.execute(CreateTable(table))
    for index in _V3_INDEXES:
        conn.execute(CreateIndex(index))


MIGRATIONS: Final[Sequence[Migration]] = (
    Migration(1, "create the WORK tables", _v1_create),
    Migration(2, "index revision on clients, items, invoices, payments", _v2_revision_indexes),
    Migration(
        3,
        "tax rates, invoice terms and line tax rates, credit notes, credit applications, refunds",
        _v3_tax_terms_credits_refunds,
    ),
)


def latest_version(steps: Sequence[Migration] = MIGRATIONS) -> int:
    return steps[-1].version if steps else 0


def current_version(conn: Connection) -> int:
    """The version recorded in the database (0 for a database without WORK tables)."""
    if not conn.dialect.has_table(conn, schema_version.name):
        return 0
    return int(conn.execute(select(func.coalesce(func.max(schema_version.c.version), 0))).scalar_one())


#: The PostgreSQL advisory lock that serialises schema changes of the toolkit's tables.
_DDL_LOCK = 7_215_880_113


def serialize_ddl(conn: Connection) -> None:
    """Make two processes creating or migrating tables at once take turns, until ``conn``'s
    transaction ends. SQLite's ``BEGIN IMMEDIATE`` (``WorkStore.begin``) already does; PostgreSQL's
    "create if missing" is not atomic (two sessions both see no table, and the second's CREATE fails
    on the catalog's unique index), so it takes a transaction-scoped advisory lock."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_DDL_LOCK})")


#: (metadata, engine) pairs whose tables this process has made sure of (see :func:`ensure_tables`)
_ENSURED: dict[int, weakref.WeakSet[Engine]] = {}
_ENSURED_LOCK = threading.Lock()


def ensure_tables(engine: Engine, tables: MetaData, begin: Callable[[], AbstractContextManager[Connection]], *,
                  after: Callable[[Connection], None] | None = None) -> None:
    """Create ``tables``' missing tables once per database and process, in a write transaction from
    ``begin`` (the store's: two processes starting at once queue on it instead of racing), then
    ``after(conn)`` in the same transaction (columns added to older tables). PostgreSQL may still
    report a table another process created between the check and the create: tried once more."""
    with _ENSURED_LOCK:
        done = _ENSURED.setdefault(id(tables), weakref.WeakSet())
        if engine in done:
            return
        for attempt in (1, 2):
            try:
                with begin() as conn:
                    serialize_ddl(conn)
                    tables.create_all(conn, checkfirst=True)
                    if after is not None:
                        after(conn)
                break
            except (IntegrityError, ProgrammingError, OperationalError):
                if attempt == 2:
                    raise
        done.add(engine)


def migrate(
    conn: Connection,
    *,
    steps: Sequence[Migration] = MIGRATIONS,
    target: int | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    """Apply the pending steps up to ``target`` (default: the latest) on ``conn``; return the version.

    The caller owns the transaction (``WorkStore.migrate`` runs this inside one, so a failing step
    leaves the database at its previous version). Running it again is a no-op. A database newer than
    this code raises :class:`ConfigError`: an older toolkit must not write to a schema it does not know.
    """
    versions = [step.version for step in steps]
    if versions != sorted(set(versions)) or (versions and versions[0] != 1):
        raise ValueError(f"migration versions must be 1, 2, 3 ... in order, got {versions}")
    known = latest_version(steps)
    wanted = known if target is None else target
    if not 0 <= wanted <= known:
        raise ValueError(f"target version {wanted} is not between 0 and {known}")
    serialize_ddl(conn)
    schema_version.create(conn, checkfirst=True)
    current = current_version(conn)
    if current > known:
        raise ConfigError(
            f"the WORK database is at schema version {current}, newer than this qbo-toolkit knows "
            f"({known}); upgrade qbo-toolkit before using it",
            key="work_schema_version",
        )
    for step in steps:
        if current < step.version <= wanted:
            step.apply(conn)
            conn.execute(
                insert(schema_version).values(version=step.version, description=step.description, applied_at=now())
            )
            current = step.version
    return current

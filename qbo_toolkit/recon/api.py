"""Reconcile the live systems in one call: the entry point of the notebook, the CLI and jobs.

::

    from qbo_toolkit.recon import reconcile_live, to_html
    result = reconcile_live(conn, store, settings=resolve_settings())   # the app's settings.yaml
    result.in_agreement, result.verdict, result.differences, result.settings_description
    Path("report.html").write_text(to_html(result))      # the caller decides where files go

It reads the id map first, then WORK, then QBO and its A/R reports (so a record the sync links while this runs shows up
at worst as unlinked, never as a false pair), and compares with :func:`.compare.reconcile`.
It also reads, read-only, the sync's match preview and its open failures: records waiting for a
match decision or whose sync failed are *pending*, and the verdict is "agree" only without them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from ..auth.environments import qbo_app_url
from ..errors import QboValidationError
from ..mirror import Mirror, MirrorRead
from ..qbo.client import QboClient
from ..qbo.meter import get_meter
from ..qbo.query import select
from ..settings import Settings, SettingsSource, resolve_settings
from ..sync.state import SyncState
from ..work.store import WorkStore
from .compare import DEFAULT_DUE_DAYS, reconcile
from .extract import extract_links, extract_mirror, extract_qbo, extract_reports, extract_work
from .result import ReconResult

__all__ = ["LiveConnection", "home_currency", "reconcile_live"]


class LiveConnection(Protocol):
    """What is needed of :class:`qbo_toolkit.connection.Connection`: the realm and its client."""

    @property
    def realm_id(self) -> str: ...

    @property
    def client(self) -> QboClient: ...


def reconcile_live(
    conn: LiveConnection,
    store: WorkStore,
    *,
    as_of: date | None = None,
    tolerance: Decimal = Decimal("0"),
    settings: SettingsSource | Settings | str | Path | Mapping[str, Any] | None = None,
    integration_date: date | None = None,
    default_due_days: int = DEFAULT_DUE_DAYS,
    tie_out: bool = True,
    fresh: bool = False,
    mirror: bool = True,
    on_read: Callable[[MirrorRead], None] | None = None,
    verify_mirror: bool | None = None,
) -> ReconResult:
    """Extract the id map, WORK and QBO, and compare them.

    ``settings`` is resolved by :func:`qbo_toolkit.settings.resolve_settings`: a
    :class:`~qbo_toolkit.settings.SettingsSource` (what jobs pass: the one settings source), a
    :class:`~qbo_toolkit.settings.Settings`, a YAML path or a mapping; None means what the app saved
    (``settings.yaml`` in the toolkit home), else the defaults. Which one was used (origin, file,
    sha256 and a sentence) is kept in the result (``result.settings``) and stated by the report.

    ``as_of`` (aging day) defaults to today. The integration date is ``integration_date`` if given,
    else the one in the settings; without either, every record is expected on both sides. With the
    settings' ``use_default_state`` (the default), an empty QBO customer state agrees with the WORK
    company's default state, as the sync fills it in.

    With ``tie_out`` (the default) QBO's own AgedReceivables and CustomerBalance reports as of
    ``as_of`` are read too and tied out per customer (:mod:`.tieout`); a report QBO refuses is a
    finding of the tie-out, not an error.

    QBO's records are read from the local mirror (:mod:`qbo_toolkit.mirror`), brought current first
    with one change-data-capture request (a full read when the mirror is empty, past CDC's 30-day
    window, or its CDC is refused; an error while reading stops the reconciliation: it never judges
    a stale copy). ``fresh`` forces the full read (the mirror then holds it); ``mirror=False`` reads
    QBO in full without touching the mirror. ``on_read`` is told how QBO was read and what it cost
    (:class:`~qbo_toolkit.mirror.MirrorRead`; ``text`` says it in a sentence). ``verify_mirror``: after the
    CDC, compare the mirror's counts and newest change per month with QBO's and read again the months
    that differ (an optional read: about two metered requests per entity and month): None (the
    default) when the last verification or full read is a week old (:data:`~qbo_toolkit.mirror.mirror.VERIFY_EVERY`),
    True always, False never.
    """
    source = resolve_settings(settings)
    chosen = source.settings
    company = store.company()
    default_state = company.default_state if chosen.use_default_state and company is not None else None
    links = extract_links(SyncState(store, conn.realm_id))
    work = extract_work(store)
    day = as_of or date.today()
    if mirror:
        local = Mirror(store, conn.client)
        read = local.bring_current(fresh=fresh, verify=verify_mirror)
        if on_read is not None:
            on_read(read)
        qbo = extract_mirror(local)
    else:
        qbo = extract_qbo(conn.client)
    if tie_out:
        qbo = replace(qbo, reports=extract_reports(conn.client, day))
    # the reports' headers name the home currency (no extra read); else one Preferences query
    currency = (qbo.reports.currency if qbo.reports is not None else "") or home_currency(conn.client)
    result = reconcile(
        work,
        qbo,
        links,
        as_of=day,
        integration_date=integration_date or chosen.integration_date,
        tolerance=tolerance,
        default_state=default_state or None,
        default_due_days=default_due_days,
        settings=source,
        send_credit_notes=bool(getattr(chosen, "credit_notes", True)) and bool(getattr(chosen, "invoices", True)),
        send_refunds=bool(getattr(chosen, "refunds", False)),
    )
    return replace(result, currency=currency,
                   qbo_app_url=qbo_app_url(str(getattr(conn.client, "api_base_url", "")), str(conn.realm_id)),
                   work_record_urls=dict(getattr(chosen, "work_record_url", None) or {}))


def home_currency(client: QboClient) -> str:
    """The company's home currency (Preferences.CurrencyPrefs.HomeCurrency, "USD"): one query (a
    metered read, so an optional one: not made once the month's budget is reached), so the report
    can write amounts in it. "" when not read, when QBO does not say or refuses the query with a
    fault (the report then says amounts are in the company's currency, without naming it);
    connection, authorisation and server errors are raised, as for every other read.
    :func:`reconcile_live` asks only when QBO's A/R reports (whose headers name it) were not read."""
    if get_meter().refusal(str(getattr(client, "realm_id", "")), "reading the company's home currency") is not None:
        return ""
    try:
        rows = client.query(select("Preferences"))
    except QboValidationError:
        return ""
    if not rows:
        return ""
    prefs = rows[0] if isinstance(rows[0], Mapping) else getattr(rows[0], "to_dict", dict)()
    home = ((prefs or {}).get("CurrencyPrefs") or {}).get("HomeCurrency") or {}
    code = str(home.get("value") or "").strip().upper() if isinstance(home, dict) else ""
    return code if len(code) == 3 and code.isalpha() else ""

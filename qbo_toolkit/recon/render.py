"""Present a :class:`ReconResult`: an HTML report, one CSV per category, or an Excel workbook.

Nothing here computes a finding: every figure comes from the result, so a report and an export
made from one result agree. The functions that write take the folder or path from their caller
(a job decides where its outputs go) and write only there.

* :func:`to_html` -- one self-contained page from ``templates/report.html.j2`` (Jinja2 with
  autoescaping, so names like ``<b>O'Brien & Sons</b>`` print as text): summary tiles (✓ when a
  category is clean, else its count), totals on both sides, two inline SVG charts (A/R aging side
  by side; differences by category), then a table per category. The SVG is drawn here by hand:
  no plotting library, no fonts or timestamps baked in, so the same result gives the same bytes
  (snapshot tests rely on it). A time appears only if the caller passes ``generated_at``.
* :func:`to_csv` -- ``summary.csv``, ``aging.csv``, ``open_balances.csv``, ``tieout.csv`` (when
  QBO's reports were read) and ``<category>.csv`` for every category (headers even when empty).
  Money is plain decimal text (``-1234.50``), dates ISO; read back with ``dtype=str`` to keep it
  exact.
* :func:`to_excel` -- the same tables as sheets of one workbook (openpyxl): money as numbers with
  two decimals (written from ``Decimal`` text, so exact), dates as dates.
* Both exports hold no formula: text that starts like one (``=``, ``+``, ``-``, ``@``, tab, ...)
  gets a leading ``'`` and Excel text cells are strings (:mod:`.cells`, CWE-1236); files 0600.

:func:`presentable` is the one place where frames become readable: ``*_cents`` columns turn into
amounts (the suffix dropped), dates into ``YYYY-MM-DD``, timestamps into ISO text in UTC.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from ..files import private_dir, write_private_bytes, write_private_text
from .cells import inert_frame, inert_text
from .money import cents_to_decimal, format_cents
from .history import history_frame, report_context
from .result import CATEGORIES, ReconResult

__all__ = ["presentable", "summary_frame", "to_csv", "to_excel", "to_html"]

DEFAULT_TITLE: Final = "WORK and QuickBooks reconciliation"
#: Colours of the two sides in the charts (colour-blind safe blue and orange).
_WORK_COLOUR: Final = "#1f77b4"
_QBO_COLOUR: Final = "#ff7f0e"
_DIFF_COLOUR: Final = "#c0392b"


# --------------------------------------------------------------------------------------------
# Frames as text
# --------------------------------------------------------------------------------------------


def presentable(frame: pd.DataFrame, *, grouping: bool = False) -> pd.DataFrame:
    """``frame`` with money as amounts (``total_cents`` -> ``total``, text ``"1234.50"``, or
    ``"1,234.50"`` with ``grouping``), dates as ``YYYY-MM-DD`` and timestamps as ISO UTC text.
    Other columns are unchanged. Missing values become ``""``."""
    columns: dict[str, pd.Series] = {}
    for name in frame.columns:
        series = frame[name]
        if name.endswith("_cents"):
            columns[name.removesuffix("_cents")] = format_cents(series, grouping=grouping)
        elif isinstance(series.dtype, pd.DatetimeTZDtype):
            text = series.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
            columns[name] = text.fillna("").astype("str")
        elif pd.api.types.is_datetime64_dtype(series.dtype):
            columns[name] = series.dt.strftime("%Y-%m-%d").fillna("").astype("str")
        else:
            columns[name] = series
    return pd.DataFrame(columns, index=frame.index)


def summary_frame(result: ReconResult) -> pd.DataFrame:
    """One row per figure: the verdict (with the settings used), each total on both sides, each
    category's count (pending ones included)."""
    settings = result.settings or {}
    rows: list[dict[str, str]] = [
        {"section": "verdict", "name": "in_agreement", "title": "In agreement", "work": "", "qbo": "",
         "difference": "", "value": "yes" if result.in_agreement else "no"},
        {"section": "verdict", "name": "verdict", "title": "Verdict", "work": "", "qbo": "", "difference": "",
         "value": result.verdict},
        {"section": "verdict", "name": "pending_count", "title": "Records pending", "work": "", "qbo": "",
         "difference": "", "value": str(result.pending_count)},
        {"section": "verdict", "name": "tie_out", "title": "Tie-out to QBO's reports", "work": "", "qbo": "",
         "difference": "", "value": result.tie_out},
        {"section": "verdict", "name": "settings", "title": "Settings", "work": "", "qbo": "", "difference": "",
         "value": result.settings_description},
        {"section": "verdict", "name": "settings_file", "title": "Settings file", "work": "", "qbo": "",
         "difference": "", "value": str(settings.get("path") or "")},
        {"section": "verdict", "name": "settings_sha256", "title": "Settings sha256", "work": "", "qbo": "",
         "difference": "", "value": str(settings.get("sha256") or "")},
        {"section": "verdict", "name": "as_of", "title": "As of", "work": "", "qbo": "", "difference": "",
         "value": result.as_of.isoformat()},
        {"section": "verdict", "name": "integration_date", "title": "Integration date", "work": "", "qbo": "",
         "difference": "", "value": result.integration_date.isoformat() if result.integration_date else ""},
        {"section": "verdict", "name": "tolerance", "title": "Tolerance", "work": "", "qbo": "", "difference": "",
         "value": str(result.tolerance)},
    ]
    for total in result.totals:
        rows.append({"section": "total", "name": total.name, "title": total.title, "work": total.as_text(total.work),
                     "qbo": total.as_text(total.qbo), "difference": total.as_text(total.difference), "value": ""})
    for category in CATEGORIES:
        rows.append({"section": category.kind, "name": category.name, "title": category.title, "work": "", "qbo": "",
                     "difference": "", "value": str(result.counts[category.name])})
    return pd.DataFrame(rows, dtype="str")


def _cell(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    return str(value)


# --------------------------------------------------------------------------------------------
# SVG charts (hand-made, deterministic)
# --------------------------------------------------------------------------------------------


def _money_label(cents: int) -> str:
    return format_cents(pd.Series([cents], dtype="int64"), grouping=True).iloc[0]


def _aging_svg(table: pd.DataFrame) -> Markup:
    """Grouped bars: open amount per aging bucket, WORK beside QBO, the difference under each pair."""
    width, height, top, bottom, left = 640, 240, 28, 52, 16
    plot_h = height - top - bottom
    buckets = table["bucket"].tolist()
    work = table["work_cents"].astype("int64").tolist()
    qbo = table["qbo_cents"].astype("int64").tolist()
    peak = max([*work, *qbo, 1])
    slot = (width - 2 * left) / max(len(buckets), 1)
    bar = slot * 0.32
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="A/R aging, WORK and QBO">',
        f'<text x="{left}" y="16" class="legend"><tspan fill="{_WORK_COLOUR}">■</tspan> WORK '
        f'<tspan fill="{_QBO_COLOUR}">■</tspan> QBO</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - left}" y2="{top + plot_h}" stroke="#888"/>',
    ]
    for index, name in enumerate(buckets):
        x0 = left + index * slot + slot * 0.16
        for offset, value, colour in ((0.0, work[index], _WORK_COLOUR), (bar, qbo[index], _QBO_COLOUR)):
            h = plot_h * value / peak
            parts.append(f'<rect x="{x0 + offset:.1f}" y="{top + plot_h - h:.1f}" width="{bar:.1f}" '
                         f'height="{h:.1f}" fill="{colour}"><title>{escape(_money_label(value))}</title></rect>')
        centre = x0 + bar
        parts.append(f'<text x="{centre:.1f}" y="{top + plot_h + 16}" text-anchor="middle">{escape(name)}</text>')
        diff = qbo[index] - work[index]
        mark = "✓" if diff == 0 else _money_label(diff)
        colour = "#2e7d32" if diff == 0 else _DIFF_COLOUR
        parts.append(f'<text x="{centre:.1f}" y="{top + plot_h + 34}" text-anchor="middle" fill="{colour}">'
                     f'{escape(mark)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text in it went through escape()


def _differences_svg(counts: Sequence[tuple[str, int]]) -> Markup:
    """Horizontal bars: rows per difference category that has any."""
    shown = [(title, count) for title, count in counts if count]
    row_h, left, width = 22, 250, 640
    height = max(len(shown), 1) * row_h + 16
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="Differences by category">']
    if not shown:
        parts.append('<text x="8" y="22" fill="#2e7d32">✓ No differences</text>')
    peak = max([count for _, count in shown] or [1])
    for index, (title, count) in enumerate(shown):
        y = 8 + index * row_h
        w = (width - left - 60) * count / peak
        parts.append(f'<text x="{left - 8}" y="{y + 14}" text-anchor="end">{escape(title)}</text>')
        parts.append(f'<rect x="{left}" y="{y + 2}" width="{w:.1f}" height="{row_h - 6}" fill="{_DIFF_COLOUR}"/>')
        parts.append(f'<text x="{left + w + 6:.1f}" y="{y + 14}">{count}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text in it went through escape()


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("qbo_toolkit.recon", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env


def _table(frame: pd.DataFrame, max_rows: int) -> dict[str, Any]:
    shown = presentable(frame.head(max_rows), grouping=True)
    numeric = [name.endswith("_cents") or name.startswith(("difference", "work_count", "qbo_count"))
               for name in frame.columns]
    return {
        "columns": list(shown.columns),
        "numeric": numeric,
        "rows": [[_cell(v) for v in row] for row in shown.itertuples(index=False, name=None)],
        "hidden": max(len(frame) - max_rows, 0),
    }


def to_html(result: ReconResult, *, title: str = DEFAULT_TITLE, generated_at: datetime | None = None,
            max_rows: int = 200) -> str:
    """The report as one HTML page (UTF-8 text). ``max_rows`` rows per category table are shown;
    the rest are counted (the CSV and Excel exports hold every row)."""
    totals = [
        {"title": t.title, "work": t.as_text(t.work) if t.unit == "count" else _money_label(t.work),
         "qbo": t.as_text(t.qbo) if t.unit == "count" else _money_label(t.qbo),
         "difference": t.as_text(t.difference) if t.unit == "count" else _money_label(t.difference),
         "ok": t.difference == 0}
        for t in result.totals
    ]
    sections = []
    for category in CATEGORIES:
        sections.append({
            "name": category.name, "title": category.title, "description": category.description,
            "kind": category.kind, "entity": category.entity, "count": result.counts[category.name],
            "table": _table(result.frames[category.name], max_rows),
        })
    context = {
        "title": title,
        "as_of": result.as_of.isoformat(),
        "integration_date": result.integration_date.isoformat() if result.integration_date else None,
        "tolerance": str(result.tolerance),
        "generated_at": generated_at.isoformat(timespec="seconds") if generated_at else None,
        "in_agreement": result.in_agreement,
        "verdict": result.verdict,
        "settings": result.settings_description,
        "tie_out": result.tie_out,
        "difference_count": result.difference_count,
        "pending_count": result.pending_count,
        "pending": [s for s in sections if s["kind"] == "pending"],
        "differences": [s for s in sections if s["kind"] == "difference"],
        "information": [s for s in sections if s["kind"] == "information"],
        "totals": totals,
        "aging": _table(result.tables["aging"], len(result.tables["aging"])),
        "aging_svg": _aging_svg(result.tables["aging"]),
        "tieout": _table(result.tables["tieout"], max_rows),
        "history": report_context(result.history),  # the History section (recon/history.py), or None
        "differences_svg": _differences_svg(
            [(c.title, result.counts[c.name]) for c in CATEGORIES if c.kind == "difference"]),
    }
    return _environment().get_template("report.html.j2").render(**context)


# --------------------------------------------------------------------------------------------
# CSV and Excel
# --------------------------------------------------------------------------------------------


def _sheets(result: ReconResult) -> list[tuple[str, pd.DataFrame]]:
    return [
        ("summary", summary_frame(result)),
        ("aging", result.tables["aging"]),
        ("open_balances", result.tables["open_balances"]),
        *((("tieout", result.tables["tieout"]),) if len(result.tables["tieout"]) else ()),
        *((c.name, result.frames[c.name]) for c in CATEGORIES),
        # every difference's key, status, age and explanation (recon/history.py), when the run was kept
        *((("history", history_frame(result.history)),) if result.history is not None else ()),
    ]


def to_csv(result: ReconResult, folder: str | Path) -> list[Path]:
    """Write ``summary.csv``, ``aging.csv``, ``open_balances.csv``, ``tieout.csv`` (when QBO's reports
    were read: every customer of the tie-out) and one CSV per category into
    ``folder`` (created 0700 if needed; files 0600); returns the paths, in that order. Text that
    starts like a formula gets a leading ``'`` (:mod:`.cells`); amounts are never prefixed."""
    target = private_dir(folder)
    written = []
    for name, frame in _sheets(result):
        text = presentable(inert_frame(frame)).to_csv(index=False, lineterminator="\n")
        written.append(write_private_text(target / f"{name}.csv", text))
    return written


def _excel_value(value: Any, money: bool) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if money:
        return cents_to_decimal(int(value))
    if isinstance(value, pd.Timestamp):
        if value.tzinfo is not None:
            return value.strftime("%Y-%m-%dT%H:%M:%SZ")
        return value.date()
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, str):
        return inert_text(value)
    if isinstance(value, Decimal | int | bool):
        return value
    return inert_text(str(value))


def _summary_excel_rows(result: ReconResult) -> list[list[Any]]:
    """:func:`summary_frame` with its figures as numbers: amounts ``Decimal``, counts ``int``."""
    frame = summary_frame(result)
    totals = {total.name: total for total in result.totals}
    rows: list[list[Any]] = []
    for record in frame.to_dict("records"):
        row: dict[Any, Any] = {key: inert_text(_cell(value)) for key, value in record.items()}
        total = totals.get(record["name"]) if record["section"] == "total" else None
        if total is not None:
            convert: Any = cents_to_decimal if total.unit == "money" else int
            row.update(work=convert(total.work), qbo=convert(total.qbo), difference=convert(total.difference))
        elif record["section"] != "verdict" and record["name"] in result.counts:
            row["value"] = int(result.counts[record["name"]])
        rows.append([row[column] for column in frame.columns])
    return rows


def to_excel(result: ReconResult, path: str | Path) -> Path:
    """Write the workbook to ``path``: a ``summary`` sheet, ``aging``, ``open_balances``, ``tieout``
    (when QBO's reports were read) and a sheet
    per category (the file 0600). Money columns (named without ``_cents``) and the summary's amounts
    hold numbers formatted ``#,##0.00``; text cells are strings, never formulas, prefixed with
    ``'`` when they start like one (:mod:`.cells`)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    # write-only: rows stream into the file instead of a cell object per value kept for the save
    book = Workbook(write_only=True)
    bold = Font(bold=True)
    for name, frame in _sheets(result):
        sheet = book.create_sheet(title=name[:31])
        sheet.freeze_panes = "A2"
        header = []
        for column in frame.columns:
            cell = WriteOnlyCell(sheet, value=inert_text(column.removesuffix("_cents")))
            cell.data_type = "s"
            cell.font = bold
            header.append(cell)
        sheet.append(header)
        money = [column.endswith("_cents") for column in frame.columns]
        dates = [pd.api.types.is_datetime64_dtype(frame[c].dtype) for c in frame.columns]
        rows = (_summary_excel_rows(result) if name == "summary" else
                ([_excel_value(value, is_money) for value, is_money in zip(row, money, strict=True)]
                 for row in frame.itertuples(index=False, name=None)))
        for row_values in rows:
            cells = []
            for index, value in enumerate(row_values):
                cell = WriteOnlyCell(sheet, value=value)
                if isinstance(value, str):  # text is text, never a formula, whatever it holds
                    cell.data_type = "s"
                elif isinstance(value, Decimal) or (index < len(money) and money[index] and value is not None):
                    cell.number_format = "#,##0.00"
                elif index < len(dates) and dates[index] and value is not None:
                    cell.number_format = "yyyy-mm-dd"
                cells.append(cell)
            sheet.append(cells)
    buffer = io.BytesIO()
    book.save(buffer)
    return write_private_bytes(path, buffer.getvalue())

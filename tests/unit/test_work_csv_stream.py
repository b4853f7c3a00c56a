"""The CSV import streams (issue 14): files of several chunks (``CHUNK_ROWS`` rows each) load the same
rows and report the same sentences as the eager import did, find duplicates and ambiguous parents
across chunk boundaries, refuse a non-UTF-8 file deep inside without loading anything, and a crash in
the middle of an import leaves nothing behind, so importing again loads every row exactly once."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import select

from qbo_toolkit.errors import WorkDataError
from qbo_toolkit.work import schema
from qbo_toolkit.work.csv_import import (
    CHUNK_ROWS,
    ImportReport,
    import_clients,
    import_credit_notes,
    import_invoices,
    import_payments,
)
from qbo_toolkit.work.store import WorkStore

ROOT = Path(__file__).resolve().parents[2]
#: csv_import.py before it streamed (the benchmark's baseline too: benchmarks/csv_bench.py)
EAGER_COMMIT = "841fcb7d847dd783ef076dff597555d607005ded"
D = Decimal


def _store() -> WorkStore:
    work = WorkStore("sqlite://")
    work.add_item("Hours", "service", D("75.00"))
    work.add_client(display_name="Cool Cars")
    work.add_client(display_name="Store Twin")
    work.add_client(display_name="Store Twin")
    return work


@pytest.fixture
def store() -> Iterator[WorkStore]:
    with _store() as work:
        yield work


class ClientsFile:
    """A clients CSV written row by row, remembering the line each row starts on."""

    def __init__(self) -> None:
        self.parts = ["display_name,email,active,notes,parent_display_name\r\n"]
        self.line = 2  # the next row's line
        self.lines: dict[str, int] = {}

    def add(self, name: str, *, email: str = "", active: str = "", notes: str = "", parent: str = "",
            raw: str | None = None) -> int:
        line = self.line
        if raw is None:
            quoted = f'"{notes}"' if "\n" in notes or "," in notes else notes
            raw = f"{name},{email},{active},{quoted},{parent}\r\n"
        self.parts.append(raw)
        self.line += raw.count("\n")
        self.lines.setdefault(name, line)
        return line

    def write(self, path: Path, *, bom: bool = True) -> Path:
        path.write_bytes(("\ufeff" if bom else "").encode() + "".join(self.parts).encode("utf-8"))
        return path


def _big_clients(tmp_path: Path) -> tuple[Path, ClientsFile, list[tuple[int, str | None, str]]]:
    """About 3.5 chunks of clients with problems planted in every chunk; the errors expected."""
    f = ClientsFile()
    expected: list[tuple[int, str | None, str]] = []
    rows = int(CHUNK_ROWS * 3.5)
    for n in range(rows):
        # the file's planted rows, each where a chunk boundary or a later chunk makes it interesting
        if n == 1:
            f.add("Site A", parent="Late Parent")  # the parent comes in the last chunk
        elif n == 2:
            f.add("Gen 3", parent="Gen 2")  # three rounds: Late Parent, Gen 1, Gen 2, then this one
        elif n == 99:
            f.add("Twin Name", email="first@example.com")
        elif n == CHUNK_ROWS - 1:  # the last row of the first chunk: a note over two lines
            f.add("Two Lines", notes="first line\nsecond line")
        elif n == CHUNK_ROWS + 5:
            f.add("Site C", parent="Cool Cars")  # a parent in the store
        elif n == CHUNK_ROWS + 6:
            line = f.add("Site E", parent="Store Twin")
            expected.append((line, "parent_display_name", "2 clients are called 'Store Twin'; it is ambiguous"))
        elif n == CHUNK_ROWS + 100:
            f.add("Gen 2", parent="Gen 1")
        elif n == CHUNK_ROWS + 200:
            f.add("Loop A", parent="Loop B")
        elif n == 2 * CHUNK_ROWS - 50:
            f.add("Grandchild", parent="Site B")
        elif n == 2 * CHUNK_ROWS + 1:
            f.add("Twin Name", email="second@example.com")  # the same name in the third chunk
        elif n == 2 * CHUNK_ROWS + 3:
            line = f.add("Too Few", raw="Too Few,x\r\n")  # malformed, third chunk
            expected.append((line, None, "has 2 fields, the header has 5"))
        elif n == 2 * CHUNK_ROWS + 500:
            line = f.add("Perhaps", active="perhaps")
            expected.append((line, "active", "'perhaps' is not true or false (true/false, yes/no, 1/0)"))
        elif n == 2 * CHUNK_ROWS + 700:
            line = f.add("Escape", email="bad\x1bmail@example.com")
            expected.append((line, "email", "ESCAPE"))  # the control-character sentence: checked by prefix below
        elif n == 2 * CHUNK_ROWS + 900:
            line = f.add("Site B", parent="Twin Name")
            expected.append((line, "parent_display_name", "2 clients are called 'Twin Name'; it is ambiguous"))
        elif n == 3 * CHUNK_ROWS + 10:
            f.add("Loop B", parent="Loop A")
        elif n == 3 * CHUNK_ROWS + 20:
            f.add("Site D", parent="Perhaps")  # its parent's row is bad: not a client at all
        elif n == rows - 3:
            f.add("Gen 1", parent="Late Parent")
        elif n == rows - 2:
            f.add("Late Parent", email="late@example.com", active="no")
        else:
            f.add(f"Client {n:06d}", email=f"c{n}@example.com", active="yes" if n % 7 else "no")
    expected.append((f.lines["Grandchild"], "parent_display_name",
                     f"its parent (line {f.lines['Site B']}) was not loaded"))
    expected.append((f.lines["Loop A"], "parent_display_name", "the parents starting at 'Loop B' form a loop"))
    expected.append((f.lines["Loop B"], "parent_display_name", "the parents starting at 'Loop A' form a loop"))
    expected.append((f.lines["Site D"], "parent_display_name", "no client is called 'Perhaps'"))
    expected.sort(key=lambda error: error[0])
    return f.write(tmp_path / "clients.csv"), f, expected


def _errors(report: ImportReport) -> list[tuple[int, str | None, str]]:
    return [(e.line, e.field, "ESCAPE" if e.field == "email" else e.message) for e in report.errors]


def _rows(store: WorkStore, table: Any) -> list[tuple[Any, ...]]:
    columns = [column for column in table.c if column.name != "updated_at"]
    with store.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(select(*columns).order_by(table.c.id))]


def test_a_file_of_several_chunks_loads_its_good_rows_and_reports_each_bad_one(
    tmp_path: Path, store: WorkStore
) -> None:
    path, f, expected = _big_clients(tmp_path)
    before = len(store.clients())
    report = import_clients(store, path)

    assert _errors(report) == expected
    escape = next(e for e in report.errors if e.field == "email")
    assert str(escape).startswith(f"{path}:{f.lines['Escape']}: email: ") and "control character" in escape.message
    bad_rows = len({line for line, _, _ in expected})
    data_rows = int(CHUNK_ROWS * 3.5)
    assert report.loaded == data_rows - bad_rows == len(report.ids)
    clients = store.clients()
    assert len(clients) == before + report.loaded
    by_name = {client.display_name: client for client in clients if client.display_name != "Twin Name"}
    # the report's ids follow the file's lines, whatever round loaded them
    lines = {c.id: f.lines[c.display_name] for c in clients[before:] if c.display_name != "Twin Name"}
    assert [lines[i] for i in report.ids if i in lines] == sorted(lines.values())
    assert sorted(report.ids) == [c.id for c in clients[before:]]
    assert by_name["Site A"].parent_id == by_name["Late Parent"].id  # the parent came three chunks later
    assert by_name["Gen 1"].parent_id == by_name["Late Parent"].id
    assert by_name["Gen 2"].parent_id == by_name["Gen 1"].id
    assert by_name["Gen 3"].parent_id == by_name["Gen 2"].id
    assert by_name["Site C"].parent_id == by_name["Cool Cars"].id
    assert by_name["Two Lines"].notes == "first line\nsecond line"
    assert by_name["Late Parent"].active is False and by_name["Late Parent"].email == "late@example.com"
    assert by_name["Client 000006"].email == "c6@example.com" and by_name["Client 000007"].active is False
    assert not {"Site B", "Grandchild", "Loop A", "Loop B", "Site D", "Perhaps", "Escape", "Site E"} & set(by_name)
    # one revision per client, no gaps, no repeats: each row written once
    revisions = sorted(client.revision for client in clients[before:])
    assert revisions == list(range(revisions[0], revisions[0] + report.loaded))


def _eager() -> ModuleType:
    """The import as it was before streaming, from git (skipped where the history is not there)."""
    done = subprocess.run(["git", "show", f"{EAGER_COMMIT}:qbo_toolkit/work/csv_import.py"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    if done.returncode:
        pytest.skip(f"commit {EAGER_COMMIT[:7]} is not in this checkout's history")
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"csv_import_eager_{os.getpid()}.py"
    path.write_text(done.stdout, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("qbo_toolkit.work._csv_import_eager", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
        path.unlink()
    return module


def test_the_streamed_import_writes_and_says_exactly_what_the_eager_one_did(tmp_path: Path) -> None:
    eager = _eager()
    path, _, _ = _big_clients(tmp_path)
    with _store() as ours, _store() as theirs:
        streamed, before = import_clients(ours, path), eager.import_clients(theirs, path)
        assert [str(e) for e in streamed.errors] == [str(e) for e in before.errors]
        assert (streamed.loaded, streamed.ids) == (before.loaded, before.ids)
        assert _rows(ours, schema.clients) == _rows(theirs, schema.clients)  # ids, revisions and every column

        # payments: running totals per invoice across chunks, the same sentences
        ours.add_client(display_name="Payer")
        theirs.add_client(display_name="Payer")
        for work in (ours, theirs):
            payer = work.client_ids_by_name(["Payer"])["Payer"][0]
            work.bulk_add_invoices([{"number": f"P-{n}", "client_id": payer, "issue_date": date(2026, 1, 5),
                                     "lines": [{"description": "Job", "qty": 1, "unit_price": D("100.00")}]}
                                    for n in range(40)])
        pay = ["invoice_number,date,amount,method,reference"]
        for n in range(int(CHUNK_ROWS * 2.2)):
            number = f"P-{n % 40}" if n % 997 else "P-404"
            pay.append(f"{number},2026-02-{n % 28 + 1:02d},{'0.40' if n % 501 else 'x'},check,r{n}")
        payments = tmp_path / "payments.csv"
        payments.write_text("\n".join(pay) + "\n", encoding="utf-8")
        streamed, before = import_payments(ours, payments), eager.import_payments(theirs, payments)
        assert [str(e) for e in streamed.errors] == [str(e) for e in before.errors]
        assert any("more than its total 100.00" in e.message for e in streamed.errors)  # totals span chunks
        assert (streamed.loaded, streamed.ids) == (before.loaded, before.ids)
        assert _rows(ours, schema.payments) == _rows(theirs, schema.payments)

        # invoices: rows of one number far apart (first row in the first chunk, the last in the third)
        invoices = tmp_path / "invoices.csv"
        invoices.write_text(_invoices_csv(), encoding="utf-8")
        streamed, before = import_invoices(ours, invoices), eager.import_invoices(theirs, invoices)
        assert [str(e) for e in streamed.errors] == [str(e) for e in before.errors]
        assert len(streamed.errors) > 10 and streamed.loaded > CHUNK_ROWS
        assert (streamed.loaded, streamed.ids) == (before.loaded, before.ids)
        assert _rows(ours, schema.invoices) == _rows(theirs, schema.invoices)
        assert _rows(ours, schema.invoice_lines) == _rows(theirs, schema.invoice_lines)


def _invoices_csv() -> str:
    """About 2.5 chunks of invoice rows: most invoices of one to three adjacent rows, some with rows
    chunks apart, and bad rows and invoices here and there."""
    out = ["number,client,issue_date,due_date,status,item,description,qty,unit_price,taxable,tax_amount"]
    far: list[str] = []
    n = 0
    while len(out) < CHUNK_ROWS * 2.5:
        n += 1
        client = "Payer" if n % 211 else "Store Twin"  # ambiguous now and then
        day = "2026-01-05" if n % 307 else "2026-02-30"
        lines = 1 + n % 3
        for k in range(lines):
            price = "" if k == 0 else ("12.50" if n % 401 else "1.005")
            row = f"I-{n},{client if k == 0 else ''},{day if k == 0 else ''},,,Hours,Line {k},1,{price},,"
            if n % 50 == 0 and k == lines - 1 and lines > 1:
                far.append(row)  # this invoice's last row comes much later
            else:
                out.append(row)
        if len(out) > CHUNK_ROWS * 2.2 and far:
            out.extend(far)
            far = []
        if n % 999 == 0:
            out.append(",Payer,2026-01-05,,,,No number,1,1.00,,")
    out.extend(far)
    out.append("P-3,Payer,2026-01-05,,,,Taken,1,1.00,,")  # a number the store already has
    return "\n".join(out) + "\n"


def test_a_payment_over_the_total_is_refused_when_the_earlier_ones_were_in_other_chunks(
    tmp_path: Path, store: WorkStore
) -> None:
    client = store.client_ids_by_name(["Cool Cars"])["Cool Cars"][0]
    store.add_invoice(number="W-1", client_id=client, issue_date=date(2026, 1, 5),
                      lines=[{"description": "Job", "qty": 1, "unit_price": D("10.00")}])
    store.add_invoice(number="W-2", client_id=client, issue_date=date(2026, 1, 5),
                      lines=[{"description": "Job", "qty": 1, "unit_price": D("1000000.00")}])
    rows = ["invoice_number,date,amount"]
    rows += ["W-2,2026-02-01,1.00" for _ in range(CHUNK_ROWS * 2 + 10)]
    rows[2] = "W-1,2026-02-01,6.00"  # line 3: first chunk
    rows[CHUNK_ROWS * 2 + 5] = "W-1,2026-02-02,5.00"  # third chunk: 11.00 > 10.00
    path = tmp_path / "payments.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    report = import_payments(store, path)
    assert [(e.line, e.field) for e in report.errors] == [(CHUNK_ROWS * 2 + 6, "amount")]
    assert "would bring payments and applied credits on invoice 'W-1' to 11.00" in report.errors[0].message
    assert report.loaded == CHUNK_ROWS * 2 + 9
    assert sum(p.amount for p in store.payments()) == D("6.00") + D("1.00") * (CHUNK_ROWS * 2 + 8)


@pytest.mark.slow  # 5,000 credit notes: the store adds them one at a time
def test_a_credit_note_number_repeated_in_a_later_chunk_is_refused_on_its_row(
    tmp_path: Path, store: WorkStore
) -> None:
    rows = ["number,client,date,amount"] + [f"CN-{n},Cool Cars,2026-03-01,1.00" for n in range(CHUNK_ROWS + 20)]
    rows.append("CN-3,Cool Cars,2026-03-02,2.00")  # line 4 first, in the first chunk
    rows.append("CN-9,Nobody,2026-03-02,2.00")
    path = tmp_path / "notes.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    report = import_credit_notes(store, path)
    last = CHUNK_ROWS + 22
    assert [(e.line, e.field, e.message) for e in report.errors] == [
        (last, "number", "credit note 'CN-3' repeats line 5"),
        (last + 1, "client", "no client is called 'Nobody'"),
    ]
    assert report.loaded == CHUNK_ROWS + 20 == len(store.credit_notes())


def test_a_file_that_turns_out_not_utf8_deep_inside_loads_nothing(tmp_path: Path, store: WorkStore) -> None:
    bad_line = CHUNK_ROWS * 3 + 2
    good = "".join(f"Client {n},c{n}@example.com\n" for n in range(bad_line - 2))
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"display_name,email\n" + good.encode() + "Caf\u00e9 Mocha,x@example.com\n".encode("latin-1")
                     + b"After,after@example.com\n")
    before = len(store.clients())
    with pytest.raises(WorkDataError, match="not UTF-8") as caught:
        import_clients(store, path)
    assert caught.value.line == bad_line
    assert f"line {bad_line}" in str(caught.value)
    assert len(store.clients()) == before


# --------------------------------------------------------------------------------------------
# A crash in the middle of an import
# --------------------------------------------------------------------------------------------

CRASHING_CHILD = """
import os, signal, sys
from qbo_toolkit.work import csv_import
from qbo_toolkit.work.store import WorkStore
store = WorkStore(sys.argv[1])
real = WorkStore.bulk_add_clients
calls = 0
def bulk_add_then_die(self, rows, **kwargs):
    global calls
    ids = real(self, rows, **kwargs)
    calls += 1
    if calls == 2:  # two chunks written (not committed): the process dies as a power cut would
        print("dying", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    return ids
WorkStore.bulk_add_clients = bulk_add_then_die
csv_import.import_clients(store, sys.argv[2])
print("finished", flush=True)
"""


def test_an_import_killed_after_two_chunks_leaves_nothing_and_running_it_again_loads_each_row_once(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'work.sqlite3'}"
    with WorkStore(url) as work:
        work.add_client(display_name="Already Here")
    rows = CHUNK_ROWS * 3 + 17
    path = tmp_path / "clients.csv"
    path.write_text("display_name,email\n" + "".join(f"Client {n},c{n}@example.com\n" for n in range(rows)),
                    encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", CRASHING_CHILD, url, str(path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert done.stdout.split() == ["dying"]

    with WorkStore(url) as work:
        assert [c.display_name for c in work.clients()] == ["Already Here"]  # the two chunks were rolled back
        report = import_clients(work, path)
        assert report.ok and report.loaded == rows
        names = [c.display_name for c in work.clients()]
        assert len(names) == rows + 1 and len(set(names)) == rows + 1  # each row once
        assert work.max_revision() == rows + 1


class _AppendingStore(WorkStore):
    """A store whose first bulk write of clients is followed by a line added to the file being
    imported: what another program saving the file in the middle of an import does."""

    def __init__(self, url: str, path: Path) -> None:
        super().__init__(url)
        self.path, self.appended = path, False

    def bulk_add_clients(self, rows: Any, *, conn: Any = None) -> list[int]:
        ids = super().bulk_add_clients(rows, conn=conn)
        if not self.appended:
            with open(self.path, "a", encoding="utf-8") as out:
                out.write("Added Meanwhile,late@example.com\n")
            self.appended = True
        return ids


@pytest.mark.parametrize("parents", [False, True])
def test_a_file_changed_while_it_is_imported_loads_nothing(tmp_path: Path, parents: bool) -> None:
    path = tmp_path / "clients.csv"
    header = "display_name,email" + (",parent_display_name" if parents else "")
    tail = "," if parents else ""
    rows = "".join(f"Client {n},c{n}@example.com{tail}\n" for n in range(CHUNK_ROWS + 5))
    if parents:  # a child: the import reads the file again for it after the first writes
        rows += "Site,site@example.com,Client 0\n"
    path.write_text(header + "\n" + rows, encoding="utf-8")
    with _AppendingStore("sqlite://", path) as work:
        with pytest.raises(WorkDataError, match="changed while it was being imported; nothing was loaded"):
            import_clients(work, path)
        assert work.appended and work.clients() == []

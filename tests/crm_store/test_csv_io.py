"""CSV import/export: per-row report, normalisation, merging by email, nothing lost."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from crm_store import audit, csv_io, customers
from crm_store.errors import InvalidValue

CSV = """name,email,phone,company,type,contact_consent
Ada Lovelace,ADA@Example.com,+44 20 7183 8750,Analytical Engines,lead,yes
Bad Email,not-an-email,,,,
Grace Hopper,grace@example.com,+1 415 555 0132,,customer,no
Ada Again,ada@example.com,,Other Co,,
,,,Only A Company,,
,,,,,
Bad Phone,bp@example.com,12345,,,
Bad Type,bt@example.com,,,,maybe
Weird Type,wt@example.com,,,vip,
Phone Only,,+1 415 555 0100,,,
"""


def test_import_reports_every_row(session: Session) -> None:
    grace = customers.create(
        session=session, actor="setup", email="grace@example.com", name="Grace H."
    )
    report = csv_io.import_customers(session=session, text=CSV, actor="test")
    by_line = {row.line: row for row in report.rows}
    assert [(r.line, r.status) for r in report.rows] == [
        (2, "created"),
        (3, "rejected"),
        (4, "merged"),
        (5, "merged"),
        (6, "rejected"),
        (8, "rejected"),
        (9, "rejected"),
        (10, "rejected"),
        (11, "created"),
    ]
    assert "not a valid email address" in str(by_line[3].reason)
    assert "kept name 'Grace H.'" in str(by_line[4].reason) and by_line[4].customer_id == grace.id
    assert "filled company" not in str(by_line[5].reason)  # Ada already had a company
    assert "kept company 'Analytical Engines'" in str(by_line[5].reason)
    assert "no name, email or phone" in str(by_line[6].reason)
    assert "phone" in str(by_line[8].reason)
    assert "contact_consent 'maybe'" in str(by_line[9].reason)
    assert "type 'vip'" in str(by_line[10].reason)
    ada = customers.get_by_email(session=session, email="ada@example.com")
    assert ada is not None
    assert (ada.phone, ada.type, ada.contact_consent) == ("+442071838750", "lead", True)
    assert grace.phone == "+14155550132" and grace.type == "customer"
    text = report.as_text()
    assert "2 created, 2 merged, 5 rejected" in text and "line 3: rejected not-an-email" in text
    entries = audit.list_entries(session=session, entity="customer")
    assert {e.action for e in entries if e.actor == "test"} == {
        "import_create",
        "import_merge",
    }


def test_bad_header_rejects_the_file(session: Session) -> None:
    with pytest.raises(ValueError, match="Unknown column"):
        csv_io.import_customers(session=session, text="name,emial\nA,a@example.com\n")
    with pytest.raises(ValueError, match="empty"):
        csv_io.import_customers(session=session, text="")


def test_an_unreadable_file_is_invalid_input_not_a_crash(session: Session) -> None:
    # A lone carriage return once raised csv.Error, which the API answered with a 500.
    report = csv_io.import_customers(session=session, text="name,email\rAda,ada@example.com\r")
    assert [row.status for row in report.rows] == ["created"]
    with pytest.raises(InvalidValue, match="not readable as CSV: check its quotes"):
        csv_io.import_customers(session=session, text='name\n"' + "x" * 200_000 + '"\n')


def test_extra_cells_are_rejected_not_dropped(session: Session) -> None:
    report = csv_io.import_customers(session=session, text="name,email\nA,a@example.com,surprise\n")
    assert report.rows[0].status == "rejected" and "more cells" in str(report.rows[0].reason)


def test_export_then_import_round_trips(session: Session) -> None:
    csv_io.import_customers(session=session, text=CSV)
    out = io.StringIO()
    assert csv_io.export_customers(session=session, out=out) == 3
    exported = out.getvalue()
    assert exported.splitlines()[0] == ",".join(csv_io.EXPORT_COLUMNS)
    # Re-importing our own export (minus the read-only columns) changes nothing.
    lines = [line.split(",") for line in exported.splitlines()]
    trimmed = "\n".join(",".join(cells[1:-1]) for cells in lines) + "\n"
    report = csv_io.import_customers(session=session, text=trimmed)
    statuses = [r.status for r in report.rows]
    assert statuses.count("rejected") == 0
    assert statuses.count("merged") == 2  # the two with emails
    assert customers.search(session=session)[1] == 4  # a phone-only row has no key to merge on


def test_cli_import_and_export(
    database_url: str, engine: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.csv"
    source.write_text("name,email\nZed,zed@example.com\nBad,nope\n")
    assert csv_io.main(["import", str(source), "--url", database_url, "--dry-run"]) == 1
    assert "dry run" in capsys.readouterr().out
    assert csv_io.main(["import", str(source), "--url", database_url]) == 1
    out = capsys.readouterr().out
    assert "line 2: created zed@example.com" in out and "line 3: rejected nope" in out
    target = tmp_path / "out.csv"
    assert csv_io.main(["export", str(target), "--url", database_url]) == 0
    assert "zed@example.com" in target.read_text()
    assert target.read_text().count("\n") == 2  # header + Zed only: the dry run wrote nothing


def test_api_import_and_export(client: TestClient, agent_headers: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/customers/import",
        files={"file": ("customers.csv", CSV.encode(), "text/csv")},
        headers=agent_headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["created"], body["merged"], body["rejected"]) == (3, 1, 5)
    assert body["rows"][1] == {
        "line": 3,
        "status": "rejected",
        "customer_id": None,
        "email": "not-an-email",
        "reason": body["rows"][1]["reason"],
    }
    bad = client.post(
        "/api/v1/customers/import",
        files={"file": ("x.csv", b"colour\nred\n", "text/csv")},
        headers=agent_headers,
    )
    assert bad.status_code == 422 and "Unknown column(s) colour" in bad.json()["detail"]
    exported = client.get("/api/v1/customers/export", headers=agent_headers)
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.text.count("\n") == 4


def test_export_defuses_formulas_and_import_restores_them(session: Session) -> None:
    """A cell that a spreadsheet would run as a formula is exported as text (issue 15, #4)."""
    customers.create(session=session, actor="test", name="=cmd|' /C calc'!A0",
                     email="f@example.com", company="@SUM(1+1)", address="-2+3",
                     phone="+14155550132")
    out = io.StringIO()
    csv_io.export_customers(session=session, out=out)
    row = next(csv.DictReader(io.StringIO(out.getvalue())))
    assert row["name"] == "'=cmd|' /C calc'!A0"
    assert (row["company"], row["address"], row["phone"]) == ("'@SUM(1+1)", "'-2+3",
                                                              "'+14155550132")
    assert not any(cell.startswith(csv_io.FORMULA_STARTS) for cell in row.values())
    session.rollback()
    report = csv_io.import_customers(session=session, text="name,email,phone,company\n"
                                     "'=1+1,g@example.com,'+14155550132,'@x\n")
    assert [r.status for r in report.rows] == ["created"]
    created = customers.get_by_email(session=session, email="g@example.com")
    assert created is not None
    assert (created.name, created.phone, created.company) == ("=1+1", "+14155550132", "@x")


def test_a_lone_carriage_return_inside_a_row_rejects_that_row(session: Session) -> None:
    """'a\\rb' is not two customers a and b (issue 15, #7)."""
    report = csv_io.import_customers(session=session,
                                     text="name,email\na\rb,x@example.com\nZed,z@example.com\n")
    assert [r.status for r in report.rows] == ["rejected", "created"]
    assert "carriage return" in str(report.rows[0].reason)
    assert customers.search(session=session)[1] == 1

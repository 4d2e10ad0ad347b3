"""CSV import/export of customers.

`python -m crm_store.csv_io import FILE [--url URL] [--dry-run]` validates every row, normalises
emails and phones, merges rows whose email is already known (in the database or earlier in the
file) and prints created / merged / rejected with the reason for each row.
`python -m crm_store.csv_io export FILE [--url URL]` writes every customer.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_store import audit, customers
from crm_store.enums import CustomerType
from crm_store.errors import InvalidValue
from crm_store.models import CUSTOMER_TYPES, Customer

IMPORT_COLUMNS = ("name", "email", "phone", "company", "address", "type", "contact_consent")
EXPORT_COLUMNS = ("id", *IMPORT_COLUMNS, "created_at")
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f", ""}
DEFAULT_TYPE = CustomerType.CUSTOMER
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection), so the
# export prefixes such cells with an apostrophe, which spreadsheets show as text, and the
# import takes that apostrophe off again (OWASP's advice).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_LONE_CR = re.compile(r"\r(?!\n)")
_CR_MARK = "\ue000"  # stands for a lone carriage return inside a row until the row is checked


@dataclass
class RowOutcome:
    """What happened to one data row (line numbers count the header as line 1)."""

    line: int
    status: Literal["created", "merged", "rejected"]
    customer_id: int | None = None
    email: str | None = None
    reason: str | None = None


@dataclass
class ImportReport:
    """The outcome of every row of one import."""

    rows: list[RowOutcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        """How many rows ended with status."""
        return sum(1 for row in self.rows if row.status == status)

    def as_text(self) -> str:
        """A human-readable report: one line per row, then the totals."""
        lines = []
        for row in self.rows:
            who = row.email or (f"customer {row.customer_id}" if row.customer_id else "-")
            detail = f" ({row.reason})" if row.reason else ""
            lines.append(f"line {row.line}: {row.status} {who}{detail}")
        lines.append(
            f"{self.count('created')} created, {self.count('merged')} merged, "
            f"{self.count('rejected')} rejected"
        )
        return "\n".join(lines)


def _parse_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InvalidValue(f"contact_consent '{value}' is not yes/no/true/false/1/0.")


def _validate_row(raw: dict[str | None, Any]) -> dict[str, Any]:
    """The normalised fields of one row; ValueError with a sentence if it cannot be kept."""
    values = {k: _unescape((raw.get(k) or "").strip()) for k in IMPORT_COLUMNS}
    if any(_CR_MARK in value for value in values.values()):
        raise InvalidValue("a cell holds a lone carriage return (\\r); remove it or quote the "
                           "cell.")
    extra = raw.get(None)
    if extra and any(str(v).strip() for v in extra):
        raise InvalidValue("the row has more cells than the header has columns.")
    if not (values["name"] or values["email"] or values["phone"]):
        raise InvalidValue("the row has no name, email or phone.")
    row: dict[str, Any] = {
        "name": values["name"] or None,
        "company": values["company"] or None,
        "address": values["address"] or None,
        "email": customers.normalise_email(values["email"]) if values["email"] else None,
        "phone": customers.normalise_phone(values["phone"]) if values["phone"] else None,
        "contact_consent": _parse_bool(values["contact_consent"]),
    }
    # An empty type means "not said": new customers get DEFAULT_TYPE, merged ones keep theirs.
    kind = values["type"].lower() or None
    if kind is not None and kind not in CUSTOMER_TYPES:
        raise InvalidValue(f"type '{values['type']}' is not one of {', '.join(CUSTOMER_TYPES)}.")
    row["type"] = kind
    return row


def _merge(
    *, session: Session, customer: Customer, row: dict[str, Any]
) -> tuple[list[str], list[str]]:
    """Fill the customer's empty fields from row; returns (filled, conflicts kept as they were)."""
    filled: list[str] = []
    conflicts: list[str] = []
    for key in ("name", "phone", "company", "address"):
        new, old = row[key], getattr(customer, key)
        if new is None or new == old:
            continue
        if old in (None, ""):
            setattr(customer, key, new)
            filled.append(key)
        else:
            conflicts.append(f"kept {key} '{old}', file had '{new}'")
    if row["contact_consent"] and not customer.contact_consent:
        customer.contact_consent = True
        filled.append("contact_consent")
    before_type = customer.type
    if row["type"] is not None:
        customers.promote(session=session, customer_id=customer.id, to_type=row["type"])
    if customer.type != before_type:
        filled.append("type")
    session.flush()
    return filled, conflicts


def import_customers(*, session: Session, text: str, actor: str = "csv-import") -> ImportReport:
    """Import customers from CSV text; each row is kept, merged or rejected with a reason."""
    try:
        return _import(session=session, text=text, actor=actor)
    except csv.Error:  # malformed quoting or line endings: the file, not a row, is bad
        raise InvalidValue("The file is not readable as CSV: check its quotes and line endings, "
                           f"and that no cell is longer than {csv.field_size_limit()} "
                           "characters.") from None


def _import(*, session: Session, text: str, actor: str) -> ImportReport:
    text = text.lstrip("\ufeff")
    if "\n" in text:
        # Rows end in \n (or \r\n), so a lone \r is inside a row: the csv module would
        # silently split that row in two. It is marked and the row rejected instead.
        text = _LONE_CR.sub(_CR_MARK, text)
    # newline="": the csv module itself handles \r, \n and \r\n, also inside quoted cells.
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [(name or "").strip().lower() for name in (reader.fieldnames or [])]
    unknown = [name for name in header if name not in IMPORT_COLUMNS]
    if not header:
        raise InvalidValue("The CSV file is empty: expected a header row.")
    if unknown:
        raise InvalidValue(
            f"Unknown column(s) {', '.join(unknown)}; expected some of {', '.join(IMPORT_COLUMNS)}."
        )
    if not {"name", "email", "phone"} & set(header):
        raise InvalidValue("The CSV needs at least one of the columns name, email, phone.")
    reader.fieldnames = header
    report = ImportReport()
    for raw in reader:
        line = reader.line_num
        if not any((v or "").strip() for k, v in raw.items() if k is not None):
            continue  # blank line
        report.rows.append(_import_row(session=session, raw=raw, line=line, actor=actor))
    return report


def _import_row(
    *, session: Session, raw: dict[str | None, Any], line: int, actor: str
) -> RowOutcome:
    """Create or merge one row. Rows are fully validated before anything is written, so no
    per-row savepoint is needed (pysqlite's savepoints are unsafe)."""
    try:
        row = _validate_row(raw)
    except ValueError as exc:
        email = (raw.get("email") or "").strip() or None
        return RowOutcome(line=line, status="rejected", email=email, reason=str(exc))
    existing = customers.get_by_email(session=session, email=row["email"]) if row["email"] else None
    if existing is None:
        customer = customers.create(session=session, actor=actor, audit_action="import_create",
                                    **{**row, "type": row["type"] or DEFAULT_TYPE})
        return RowOutcome(line=line, status="created", customer_id=customer.id, email=row["email"])
    before = audit.snapshot(existing)
    filled, conflicts = _merge(session=session, customer=existing, row=row)
    if filled:
        audit.record_change(session=session, actor=actor, action="import_merge",
                            entity=customers.ENTITY, row=existing, before=before)
    parts = [f"filled {', '.join(filled)}"] if filled else ["nothing new"]
    return RowOutcome(
        line=line,
        status="merged",
        customer_id=existing.id,
        email=row["email"],
        reason="; ".join(parts + conflicts),
    )


def export_customers(*, session: Session, out: io.TextIOBase | Any) -> int:
    """Write every customer as CSV (EXPORT_COLUMNS) to out; returns how many rows."""
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    for customer in _all_customers(session):
        writer.writerow(_export_row(customer))
        count += 1
    return count


def _all_customers(session: Session) -> Iterable[Customer]:
    return session.scalars(select(Customer).order_by(Customer.id)).yield_per(500)


def _export_row(customer: Customer) -> list[str]:
    values: list[str] = []
    for column in EXPORT_COLUMNS:
        value = getattr(customer, column)
        if isinstance(value, bool):
            values.append("yes" if value else "no")
        elif value is None:
            values.append("")
        elif column == "created_at":
            values.append(value.isoformat())
        else:
            values.append(_escape(str(value)))
    return values


def _escape(cell: str) -> str:
    """The cell as a spreadsheet shows it as text: "'=SUM(A1)" for "=SUM(A1)", "'+4420…"."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def _unescape(cell: str) -> str:
    """The cell as exported before _escape ("'=SUM(A1)" → "=SUM(A1)")."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS) else cell


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; exit status 1 if any row was rejected."""
    parser = argparse.ArgumentParser(prog="python -m crm_store.csv_io", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    imp = sub.add_parser("import", help="import customers from a CSV file")
    imp.add_argument("file", type=Path)
    imp.add_argument("--url", help="database URL (default: RELAY_DATABASE_URL / settings)")
    imp.add_argument("--dry-run", action="store_true", help="report only; change nothing")
    exp = sub.add_parser("export", help="export all customers to a CSV file ('-' = stdout)")
    exp.add_argument("file")
    exp.add_argument("--url", help="database URL (default: RELAY_DATABASE_URL / settings)")
    args = parser.parse_args(argv)

    from crm_store.db import make_engine, make_session_factory, session_scope

    url = args.url
    if not url:
        from relay.settings import get_settings

        url = get_settings().database_url
    engine = make_engine(url)
    factory = make_session_factory(engine)
    try:
        if args.command == "import":
            try:
                text = args.file.read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError) as exc:
                print(f"cannot read {args.file}: {exc}", file=sys.stderr)
                return 2
            session = factory()
            try:
                report = import_customers(session=session, text=text, actor="csv-import")
            except ValueError as exc:
                session.rollback()
                print(f"{args.file}: {exc}", file=sys.stderr)
                return 2
            if args.dry_run:
                session.rollback()
            else:
                session.commit()
            session.close()
            print(report.as_text())
            if args.dry_run:
                print("dry run: nothing was written")
            return 1 if report.count("rejected") else 0
        with session_scope(factory) as session:
            if args.file == "-":
                count = export_customers(session=session, out=sys.stdout)
            else:
                with open(args.file, "w", newline="", encoding="utf-8") as handle:
                    count = export_customers(session=session, out=handle)
        print(f"exported {count} customer(s) to {args.file}", file=sys.stderr)
        return 0
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())

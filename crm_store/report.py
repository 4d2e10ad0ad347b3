"""`python -m crm_store.report --from 2026-11-01 --to 2026-11-30 [--channel web] [--out FILE]`

Writes one self-contained HTML file with the Insights page's charts and tables for a period,
for people who want it by email: the same template and the same script as /console/insights
(console/templates/insights.html, console/static/insights.js), with the figures, Chart.js and
the stylesheets inlined, so it opens anywhere without Relay or a network. The figures are the
API's (crm_store.insights, segments, gaps), computed directly on the database.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session

from crm_store import gaps, insights, segments
from crm_store.enums import GapClusterStatus
from crm_store.errors import InvalidValue
from crm_store.models import utcnow
from relay.channels import ChannelName

CONSOLE = Path(__file__).resolve().parent.parent / "console"


def _figure(table: insights.Table, scope: dict[str, Any]) -> dict[str, Any]:
    return {"name": table.name, "columns": table.columns, "rows": table.records(),
            "scope": scope}


def collect(*, session: Session, scope: insights.Scope) -> dict[str, Any]:
    """The API responses the page would fetch, keyed by path."""
    described = scope.describe()
    responses: dict[str, Any] = {
        "/api/v1/insights": [{"name": n, "path": f"/api/v1/insights/{n}", "scoped_to_you": False}
                             for n in insights.FIGURES],
    }
    for name in insights.FIGURES:
        responses[f"/api/v1/insights/{name}"] = _figure(
            insights.compute(session=session, name=name, scope=scope), described)
    as_of = {"as_of": "last segmentation"}
    customers, total = segments.customers_in(session=session, limit=100)
    responses["/api/v1/insights/segments"] = _figure(segments.summary(session=session), as_of)
    responses["/api/v1/insights/segments/points"] = _figure(segments.points(session=session),
                                                            as_of)
    responses["/api/v1/insights/segments/customers"] = _figure(
        customers, {**as_of, "total": total, "segment": None})
    run = gaps.latest_done_run(session=session)
    clusters = [] if run is None else gaps.clusters_of(session=session, run_id=run.id)
    from crm_store.api.routes.gaps import _cluster_out, _run_out

    responses["/api/v1/insights/gaps"] = {
        "run": None if run is None else _run_out(run).model_dump(mode="json"),  # type: ignore[union-attr]
        "latest": None,
        "clusters": [_cluster_out(c).model_dump(mode="json") for c in clusters
                     if c.status == GapClusterStatus.OPEN],
    }
    return {"scope": described, "responses": responses}


def _script_json(data: Any) -> str:
    """JSON that is safe inside <script>: no '</script>' or HTML comment can be formed."""
    text = json.dumps(data, ensure_ascii=False, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render(data: dict[str, Any], *, channel: str | None = None) -> str:
    """The self-contained HTML of a report."""
    environment = Environment(loader=FileSystemLoader(CONSOLE / "templates"),
                              autoescape=select_autoescape(["html"]))
    environment.globals["notices"] = {}
    static = CONSOLE / "static"
    scripts = {name: (static / path).read_text(encoding="utf-8")
               for name, path in (("chart", "vendor/chart.umd.min.js"), ("js", "insights.js"))}
    for name, text in scripts.items():
        if "</script" in text.lower():
            raise ValueError(f"{name} cannot be inlined: it contains '</script'")
    scope = data["scope"]
    period = f"{scope['from']} – {scope['to']}" + (f" · {channel}" if channel else "")
    return environment.get_template("insights.html").render(
        base_template="report_base.html", report=True, team=True, agent=None, csrf="",
        notice=None, api_token="", segments=segments.SEGMENTS, channels=list(ChannelName),
        period=period,
        generated=utcnow().strftime("%Y-%m-%d %H:%M UTC"),
        inline={"css": (static / "insights.css").read_text(encoding="utf-8"),
                "console_css": (static / "console.css").read_text(encoding="utf-8"),
                "data": _script_json(data), **scripts},
    )


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m crm_store.report", description=__doc__)
    parser.add_argument("--from", dest="first", type=date.fromisoformat, required=True,
                        help="first day, YYYY-MM-DD (UTC)")
    parser.add_argument("--to", dest="last", type=date.fromisoformat, required=True,
                        help="last day, YYYY-MM-DD (UTC), inclusive")
    parser.add_argument("--channel", choices=list(ChannelName))
    parser.add_argument("--out", type=Path, help="file to write (default insights-FROM-TO.html)")
    parser.add_argument("--url", help="database URL (default: RELAY_DATABASE_URL / settings)")
    args = parser.parse_args(argv)
    try:
        scope = insights.Scope.from_days(args.first, args.last, channel=args.channel)
    except InvalidValue as error:
        print(f"crm_store.report: {error}", file=sys.stderr)
        return 2

    from crm_store.db import make_engine, make_session_factory, url_or_settings

    engine = make_engine(url_or_settings(args.url))
    try:
        with make_session_factory(engine)() as session:
            data = collect(session=session, scope=scope)
    finally:
        engine.dispose()
    out = args.out or Path(f"insights-{args.first}-{args.last}.html")
    out.write_text(render(data, channel=args.channel), encoding="utf-8")
    print(f"crm_store.report: wrote {out} ({out.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`python -m crm_store.report`: one self-contained HTML file with the Insights data."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from crm_store import gaps, report
from crm_store.models import GapCluster
from tests.crm_store import insight_world as w

HOSTILE = "</script><script>alert(1)</script><!--"


def test_report_is_self_contained_and_carries_the_figures(
    sessions: sessionmaker[Session], database_url: str, tmp_path: Path
) -> None:
    with sessions.begin() as session:
        w.build(session)
        run = gaps.start_run(session=session, trigger="manual", actor="test")
        run.status = "done"
        session.add(GapCluster(run_id=run.id, label=HOSTILE, size=2, weekly=[1, 1], trend=0.0,
                               questions=[{"id": 1, "text": HOSTILE, "at": "", "outcome": None}]))
    out = tmp_path / "report.html"
    code = report.main(["--from", w.FIRST_DAY.isoformat(), "--to", w.LAST_DAY.isoformat(),
                        "--url", database_url, "--out", str(out)])
    assert code == 0
    html = out.read_text()
    # Nothing is fetched from anywhere: no external scripts, styles or API calls needed.
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "/console/insights/static" not in html
    assert "Chart.js v4" in html
    # The customer's text cannot end the data script: exactly the three scripts we wrote.
    assert html.lower().count("</script>") == 3
    data = json.loads(re.search(r"window.RELAY_INSIGHTS_DATA = (.*?);</script>", html,
                                re.S).group(1))  # type: ignore[union-attr]
    assert data["scope"] == {"from": "2026-03-01", "to": "2026-03-07", "channel": None,
                             "agent_id": None}
    containment = data["responses"]["/api/v1/insights/containment"]["rows"]
    assert containment[-1]["conversations"] == 4
    assert data["responses"]["/api/v1/insights/gaps"]["clusters"][0]["label"] == HOSTILE


def test_a_bad_range_is_refused(database_url: str, tmp_path: Path, capsys) -> None:
    code = report.main(["--from", "2026-03-07", "--to", "2026-03-01", "--url", database_url,
                        "--out", str(tmp_path / "x.html")])
    assert code == 2 and "starts after" in capsys.readouterr().err

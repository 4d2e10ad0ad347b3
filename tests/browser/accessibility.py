"""axe-core (bundled by axe-playwright-python) run on an open page: the WCAG 2.1 A/AA rules,
failing on serious and critical violations with what a developer needs to fix each one.

The script goes in through `page.evaluate`, which Playwright runs outside the page's
Content-Security-Policy (script-src 'self'), so the pages are checked with their real headers.
"""

from __future__ import annotations

from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
FAILING_IMPACTS = {"serious", "critical"}
# Rules that are not checked, each with the reason. Keep this the only place that excludes any.
EXCLUDED_RULES: dict[str, str] = {}


def violations(page: Page, *, include: str | None = None) -> list[dict[str, Any]]:
    """The serious and critical WCAG 2.1 A/AA violations on the page (or inside `include`)."""
    options = {"runOnly": {"type": "tag", "values": WCAG_TAGS},
               "rules": {rule: {"enabled": False} for rule in EXCLUDED_RULES},
               "resultTypes": ["violations"]}
    results = Axe().run(page, context=include, options=options)
    return [v for v in results.response["violations"] if v["impact"] in FAILING_IMPACTS]


def report(found: list[dict[str, Any]]) -> str:
    """One paragraph per violation: rule, impact, the elements it was found on, the fix."""
    lines = []
    for v in found:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']} — {v['helpUrl']}")
        for node in v["nodes"]:
            target = " ".join(" ".join(t) if isinstance(t, list) else t for t in node["target"])
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            lines.append(f"    {target}: {summary}")
    return "\n".join(lines)


def assert_accessible(page: Page, what: str, *, include: str | None = None) -> None:
    """Fail with the list of violations if axe-core finds a serious or critical one."""
    found = violations(page, include=include)
    assert not found, f"accessibility violations on {what}:\n{report(found)}"

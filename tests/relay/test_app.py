"""The composition root (relay.app): which parts the app has, and that the parts stay apart."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fastapi import FastAPI
from starlette.routing import NoMatchFound

from relay.app import create_app
from relay.settings import ROOT, Settings


def test_the_app_is_the_crm_api_plus_console_and_channels(tmp_path: Path) -> None:
    settings = Settings(env="test", data_dir=tmp_path, secret_key="k", service_token="s",
                        rasa_token="r", embedding_model="unused")
    full = create_app(settings)
    crm = create_app(settings, console=False, channels=False)

    def serves(app: FastAPI, route: str) -> bool:
        for params in ({}, {"conversation_id": "x"}):
            try:
                app.url_path_for(route, **params)
                return True
            except NoMatchFound:
                pass
        return False

    crm_routes = ("healthz", "rasa_events", "search_customers", "list_audit",
                  "insight_containment", "list_gaps")
    parts = ("login_form", "resolve", "post_message", "widget_js", "insights_page",
             "conversation_suggestions")
    assert all(serves(crm, r) and serves(full, r) for r in crm_routes)
    assert [r for r in parts if serves(crm, r)] == []
    assert all(serves(full, r) for r in parts)


def test_the_crm_imports_neither_the_console_nor_the_channels() -> None:
    """crm_store is below console/ and bot/: importing all of it must not load them."""
    code = (
        "import pkgutil, importlib, sys, crm_store\n"
        "for m in pkgutil.walk_packages(crm_store.__path__, 'crm_store.'):\n"
        "    if '.migrations' not in m.name: importlib.import_module(m.name)\n"
        "print(sorted(n for n in sys.modules if n.split('.')[0] in ('console', 'bot')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == "[]"

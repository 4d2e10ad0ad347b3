"""Rasa's own checks on the bot: the training data validates and the conversation tests pass."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from relay.settings import ROOT
from relay.stack import RASA_BIN
from relay.train import ensure_model

pytestmark = pytest.mark.integration


def _rasa(*args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [str(RASA_BIN), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def _warnings(output: str) -> set[str]:
    return {m.strip() for m in re.findall(r"UserWarning: (.*)", output)}


def test_training_data_validates_with_only_the_documented_warnings() -> None:
    """`rasa data validate` passes, and warns only as bot/validate_expected.yml says it will."""
    result = _rasa(
        "data",
        "validate",
        "--config",
        "config.yml",
        "--domain",
        "domain.yml",
        "--data",
        "bot/data",
        "--fail-on-warnings",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    expected = yaml.safe_load((ROOT / "bot" / "validate_expected.yml").read_text())
    documented = {w["text"] for w in expected["warnings"]} | {
        f"The utterance '{name}' is not used in any story or rule."
        for names in expected["said_by_code"].values() for name in names
    }
    found = _warnings(result.stdout + result.stderr)
    assert found - documented == set(), "undocumented warnings (fix them or document why)"
    assert documented - found == set(), "documented warnings that no longer occur: remove them"


def test_conversation_stories_pass(tmp_path: Path) -> None:
    stories = sorted((ROOT / "bot" / "tests").glob("test_*.yml"))
    assert stories, "no conversation tests in bot/tests"
    result = _rasa(
        "test",
        "core",
        "--stories",
        "bot/tests",
        "--model",
        str(ensure_model(quiet=True)),
        "--out",
        str(tmp_path),
        "--fail-on-prediction-errors",
    )
    failed = tmp_path / "failed_test_stories.yml"
    detail = failed.read_text() if failed.exists() else ""
    assert result.returncode == 0, (detail or result.stdout[-3000:]) + result.stderr[-2000:]

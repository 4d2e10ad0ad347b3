"""`python -m actions` without a FAQ index: one line saying how to build it, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from relay.settings import ROOT


def test_a_missing_index_is_one_sentence_naming_the_fix(tmp_path: Path) -> None:
    env = dict(os.environ, RELAY_DATA_DIR=str(tmp_path), RELAY_INDEX_DIR=str(tmp_path / "none"),
               RELAY_ACTIONS_PORT="9")
    result = subprocess.run([sys.executable, "-m", "actions"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("action server: no FAQ index in ")
    assert "make build-index" in last and "Traceback" not in result.stderr

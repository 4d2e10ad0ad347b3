"""`python -m relay.testrun` (what `make test` calls): set up what is missing, then run pytest.

The suite needs the FAQ index and the trained Rasa model (built here if their inputs changed);
the integration tests start Rasa, the action server and the API themselves. When PostgreSQL is
installed, its cluster is started and the CRM tests run against it too.
"""

from __future__ import annotations

import os
import subprocess
import sys

from relay import setup
from relay.settings import ROOT


def postgres_url() -> str:
    """RELAY_TEST_POSTGRES_URL, or the local test cluster's URL if PostgreSQL is installed."""
    if url := os.environ.get("RELAY_TEST_POSTGRES_URL"):
        return url
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "test-postgres.sh")],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not result.stdout.strip():
        why = result.stderr.strip()[-300:] or "not installed, or not run as root"
        if os.environ.get("RELAY_TEST_REQUIRE_SERVICES"):  # .ci/run: no quiet skips
            raise SystemExit(f"relay: PostgreSQL not started ({why}); CI needs it")
        sys.stderr.write(f"relay: PostgreSQL not started ({why}); its tests will be skipped\n")
        return ""
    return result.stdout.strip()


def main() -> None:
    """Prepare, then hand over to pytest with any extra arguments."""
    setup.main(["--no-database"])
    env = dict(
        os.environ,
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        RASA_TELEMETRY_ENABLED="false",
        TOKENIZERS_PARALLELISM="false",
    )
    if url := postgres_url():
        env["RELAY_TEST_POSTGRES_URL"] = url
        print(f"==> PostgreSQL tests use {url.split('@')[-1]}", flush=True)
    args = sys.argv[1:] or ["-q", "-ra", "--timeout=900"]
    result = subprocess.run([sys.executable, "-m", "pytest", *args], cwd=ROOT, env=env, check=False)
    raise SystemExit(result.returncode)


if __name__ == "__main__":
    main()

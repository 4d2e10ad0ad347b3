"""`python -m relay.setup`: bring the embedded installation up to date, skipping what is current.

Steps: migrate the database, load the demo data, export the encoder to ONNX (once per model),
build the FAQ index, mine the demo's knowledge gaps (once), train the Rasa model.
Each step is cheap when its inputs did not change; the timings are printed as a table.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable

from relay.settings import ROOT, get_settings
from relay.stack import child_env


def _module(name: str, *args: str) -> Callable[[], None]:
    def run() -> None:
        env = child_env(get_settings())
        result = subprocess.run([sys.executable, "-m", name, *args], cwd=ROOT, env=env, check=False)
        if result.returncode != 0:
            raise SystemExit(f"relay setup: `python -m {name}` failed (exit {result.returncode})")

    return run


def _train() -> None:
    from relay.train import ensure_model

    ensure_model()


def main(argv: list[str] | None = None) -> None:
    """Run the setup steps and print how long each took."""
    parser = argparse.ArgumentParser(prog="python -m relay.setup", description=__doc__)
    parser.add_argument(
        "--no-database",
        action="store_true",
        help="skip migrating and seeding (the tests use their own databases)",
    )
    args = parser.parse_args(argv)
    steps: list[tuple[str, Callable[[], None]]] = []
    if not args.no_database:
        steps += [
            ("migrate database", _module("crm_store.migrate")),
            ("load demo data", _module("crm_store.seed")),
        ]
    steps += [
        ("export ONNX encoder", _module("knowledge.build.onnx_export")),
        ("build FAQ index", _module("knowledge.build")),
    ]
    if not args.no_database:
        steps.append(("mine knowledge gaps", _module("crm_store.gaps", "--if-never",
                                                     "--trigger", "setup")))
    steps += [
        ("train Rasa model", _train),
    ]
    timings = []
    for label, step in steps:
        started = time.monotonic()
        step()
        timings.append((label, time.monotonic() - started))
    print("setup step             seconds")
    for label, seconds in timings:
        print(f"  {label:<20} {seconds:7.1f}")


if __name__ == "__main__":
    main()

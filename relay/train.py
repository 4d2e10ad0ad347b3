"""Train the Rasa model only when its inputs changed (`python -m relay.train`).

The model is named by a fingerprint of everything `rasa train` reads (config, domain, training
data, Rasa version), so an unchanged bot is never retrained and switching branches back
reuses the model trained before.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from relay.settings import ROOT

RASA_VENV = ROOT / ".venv-rasa"
MODELS_DIR = ROOT / "models"
_KEEP_MODELS = 3


def training_inputs() -> list[Path]:
    """Every file `rasa train` reads, in a stable order (the custom NLU component's code too)."""
    data = sorted(p for p in (ROOT / "bot" / "data").rglob("*.yml") if p.is_file())
    return [ROOT / "config.yml", ROOT / "domain.yml", *data, ROOT / "requirements" / "rasa.lock",
            ROOT / "bot" / "sentence_featurizer.py"]


def fingerprint() -> str:
    """A short hash of the training inputs' paths and contents."""
    digest = hashlib.sha256()
    for path in training_inputs():
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def model_path() -> Path:
    """Where the model for the current inputs lives (whether or not it exists yet)."""
    return MODELS_DIR / f"relay-{fingerprint()}.tar.gz"


def ensure_model(*, quiet: bool = False) -> Path:
    """Return the model for the current inputs, training it first if it does not exist.

    Training writes into a scratch directory and renames the finished file into place, under a
    lock: a concurrent caller waits and then reuses the model instead of reading a half-written
    archive or training the same thing twice.
    """
    target = model_path()
    if target.exists():
        return target
    rasa = RASA_VENV / "bin" / "rasa"
    if not rasa.exists():
        raise SystemExit("Rasa environment missing: run `make venvs` first")
    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    with (MODELS_DIR / ".train.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():
            return target
        _train(rasa, target, quiet=quiet)
    _prune(keep=target)
    return target


def _train(rasa: Path, target: Path, *, quiet: bool) -> None:
    print(f"==> training the Rasa model ({target.name}); this takes a minute or two", flush=True)
    started = time.monotonic()
    name = target.name.removesuffix(".tar.gz")
    with tempfile.TemporaryDirectory(dir=MODELS_DIR, prefix=".training-") as scratch:
        command = [
            str(rasa), "train", "--config", "config.yml", "--domain", "domain.yml",
            "--data", "bot/data", "--out", scratch, "--fixed-model-name", name,
        ]  # fmt: skip
        result = subprocess.run(command, cwd=ROOT, capture_output=quiet, text=True, check=False)
        built = Path(scratch) / target.name
        if result.returncode != 0 or not built.exists():
            if quiet:
                sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
            raise SystemExit(f"rasa train failed (exit {result.returncode})")
        os.replace(built, target)
    print(f"    trained in {time.monotonic() - started:.0f} s", flush=True)


def _prune(*, keep: Path) -> None:
    models = sorted(
        MODELS_DIR.glob("relay-*.tar.gz"), key=lambda p: p.stat().st_mtime, reverse=True
    )
    for old in models[_KEEP_MODELS:]:
        if old != keep:
            old.unlink()


if __name__ == "__main__":
    print(ensure_model())

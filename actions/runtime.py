"""Services the actions use, built once when the action server starts (never at import)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from knowledge.runtime.languages import LanguageDetector
    from knowledge.runtime.multilingual import MultilingualFaq
    from relay.settings import Settings


@dataclass(frozen=True)
class Services:
    """What an action may use: settings, a session factory, the FAQ (an index per model) and
    the language detector."""

    settings: Settings
    sessions: sessionmaker[Session]
    faq: MultilingualFaq
    languages: LanguageDetector


_services: Services | None = None


def install(services: Services) -> None:
    """Make `services` available to the actions of this process."""
    global _services
    _services = services


def services() -> Services:
    """The services installed at start-up; a clear error if the server was started wrongly."""
    if _services is None:
        raise RuntimeError(
            "action services are not initialised: start the server with `python -m actions`"
        )
    return _services


def build(settings: Settings) -> Services:
    """Open the database, load the FAQ indexes with their encoders and the language detector."""
    from crm_store.db import make_engine, make_session_factory
    from knowledge.runtime.languages import LanguageDetector
    from knowledge.runtime.multilingual import MultilingualFaq
    from relay import languages

    engine = make_engine(settings.database_url)
    faq = MultilingualFaq.from_settings(settings)
    for index in faq.engines:
        logging.getLogger(__name__).info(
            "FAQ index %s: %d entries, encoder %s on %s",
            index.index_dir,
            index.manifest.n_entries,
            index.encoder.id,
            index.encoder.backend,
        )
    return Services(settings=settings, sessions=make_session_factory(engine), faq=faq,
                    languages=LanguageDetector(languages.CODES, languages.DEFAULT))

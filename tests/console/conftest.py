"""The console tests use the channel tests' fixtures (temp database, settings, fake Rasa)."""

from tests.channels.conftest import fake_rasa, sessions, settings

__all__ = ["fake_rasa", "sessions", "settings"]

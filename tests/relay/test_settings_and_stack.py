"""Settings defaults, generated secrets, and the environment the supervisor gives its children."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relay import train
from relay.settings import Settings
from relay.stack import child_env, tracker_store_url


def test_embedded_defaults_need_no_configuration(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.database_url == f"sqlite:///{tmp_path / 'relay.db'}"
    assert settings.index_dir == tmp_path / "index"
    assert Path(settings.embedding_model, "config.json").exists()  # the packaged MiniLM


def test_development_secrets_are_generated_once_and_kept(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path)
    second = Settings(data_dir=tmp_path)
    assert first.secret_key and first.service_token and first.rasa_token
    assert (first.secret_key, first.service_token) == (second.secret_key, second.service_token)
    assert len({first.secret_key, first.service_token, first.rasa_token}) == 3
    stored = json.loads((tmp_path / "secrets.json").read_text())
    assert stored["rasa_token"] == first.rasa_token
    assert (tmp_path / "secrets.json").stat().st_mode & 0o077 == 0


def test_production_refuses_generated_secrets(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="RELAY_SECRET_KEY"):
        Settings(env="production", data_dir=tmp_path, service_token="s", rasa_token="r")


@pytest.mark.parametrize(
    ("app_url", "rasa_url"),
    [
        ("sqlite:////var/x/relay.db", "sqlite:////var/x/relay.db"),
        ("postgresql+psycopg://u:p@db:5432/relay", "postgresql://u:p@db:5432/relay"),
        ("postgresql://u:p@db/relay", "postgresql://u:p@db/relay"),
    ],
)
def test_rasa_tracker_store_uses_the_same_database(app_url: str, rasa_url: str) -> None:
    assert tracker_store_url(app_url) == rasa_url


def test_children_share_the_resolved_settings(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, api_port=9100, actions_port=9101)
    env = child_env(settings, base={})
    assert env["RELAY_SERVICE_TOKEN"] == settings.service_token
    assert env["RELAY_ACTIONS_WEBHOOK"] == "http://127.0.0.1:9101/webhook"
    assert env["HF_HUB_OFFLINE"] == "1"


def test_the_child_environment_rebuilds_every_setting(tmp_path: Path) -> None:
    """A child reading RELAY_* from child_env gets the parent's settings, field for field."""
    settings = Settings(data_dir=tmp_path, api_port=9100, telegram_mode="webhook",
                        faq_paths=[tmp_path / "a", tmp_path / "b"], index_dir=tmp_path / "ix")
    env = child_env(settings, base={})
    relay_vars = {k: v for k, v in env.items() if k.startswith("RELAY_")}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in relay_vars.items():
            patch.setenv(key, value)
        rebuilt = Settings()
    assert rebuilt.model_dump() == settings.model_dump()
    assert {f"RELAY_{name.upper()}" for name in Settings.model_fields} <= set(env)


def test_model_fingerprint_follows_the_training_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("config.yml", "domain.yml", "requirements/rasa.lock", "bot/data/nlu.yml",
                 "bot/sentence_featurizer.py"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    monkeypatch.setattr(train, "ROOT", tmp_path)
    before = train.fingerprint()
    assert train.fingerprint() == before
    (tmp_path / "bot/data/nlu.yml").write_text("changed")
    changed = train.fingerprint()
    assert changed != before
    (tmp_path / "bot/data/rules.yml").write_text("new file")
    assert train.fingerprint() not in (before, changed)

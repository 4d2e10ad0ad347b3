"""`python -m bot.channels.telegram`: run the bridge, polling or webhook (telegram_mode)."""

from __future__ import annotations

import asyncio
import logging
import sys

from telegram.error import InvalidToken, NetworkError

from bot.channels.telegram.application import BridgeConfigError, build_application
from bot.channels.telegram.leader import leadership
from bot.channels.telegram.polling import run_polling
from bot.channels.telegram.webhook import run_webhook
from relay.settings import Settings, get_settings

logger = logging.getLogger("bot.channels.telegram")


def check_rasa(settings: Settings) -> None:
    """Warn in one line if Rasa does not answer yet (messages are kept in the CRM meanwhile)."""
    import httpx

    try:
        httpx.get(f"{settings.rasa_url}/", timeout=3)
    except httpx.HTTPError:
        logger.warning("Rasa is not reachable at %s (start it with `make run`); until it is, "
                       "customers' messages are saved in the CRM for an agent", settings.rasa_url)


def main() -> None:
    """Start the bridge in the mode settings.telegram_mode names."""
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    try:
        application = build_application(settings)
        check_rasa(settings)
        if settings.telegram_mode == "webhook":
            logger.info("Telegram bridge: webhook on %s:%s%s", settings.telegram_webhook_listen,
                        settings.telegram_webhook_port, settings.telegram_webhook_path)
            asyncio.run(run_webhook(application, settings))
        else:
            with leadership(settings):  # one poller per bot, whatever the number of machines
                logger.info("Telegram bridge: polling (Rasa at %s)", settings.rasa_url)
                asyncio.run(run_polling(application))
    except BridgeConfigError as error:
        print(f"telegram bridge: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    except InvalidToken:
        print("telegram bridge: Telegram refused RELAY_TELEGRAM_TOKEN; check it with @BotFather.",
              file=sys.stderr)
        raise SystemExit(2) from None
    except NetworkError as error:
        print(f"telegram bridge: cannot reach the Bot API ({type(error).__name__}); check the "
              "network or RELAY_TELEGRAM_BASE_URL.", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()

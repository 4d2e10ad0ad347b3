"""App-side channel glue: the website widget gateway and the Telegram bridge to Rasa."""

"""The channels' code: how customers' messages reach Rasa and how out-of-turn messages reach them.

What a channel is (name, id prefix, personal, delivery) is in the registry, relay/channels.py.

    inbound.py      a customer message to Rasa, or kept in the CRM for a person if Rasa is down
    delivery.py     the one delivery worker for channels that push (claim, send, back off, mark)
    web/            the website widget: its routes, event stream and files
    telegram/       the Telegram bridge: `python -m bot.channels.telegram`
"""

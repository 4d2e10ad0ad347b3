"""Relay process wiring: settings, the environment bootstrap and the supervisor that runs it all."""

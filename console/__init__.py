"""The agent console: queue of handed-off conversations, transcript, reply, note, resolve."""

"""FAQ knowledge: sources (``faq/``), index builder, search engine (``engine``), benchmark."""

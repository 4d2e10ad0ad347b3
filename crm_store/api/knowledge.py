"""The FAQ engine in the API process: reply suggestions, gap mining and FAQ edits use it.

The composition root (relay.app) puts a KnowledgeService on app.state in its lifespan; the
engine itself is loaded on first use (a second or so: the faiss index and the ONNX encoder), so
an app that never suggests a reply never loads it, and it is reloaded when the index on disk
changes (FaqEngine.reload_if_changed).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, HTTPException, Request, status

from relay.settings import Settings

if TYPE_CHECKING:
    from knowledge.runtime.engine import FaqEngine


class KnowledgeService:
    """Holds the API process's FaqEngine."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engine: FaqEngine | None = None
        self._lock = threading.Lock()

    def engine(self) -> FaqEngine:
        """The engine on the current index; 503 with what to do if there is no index."""
        from knowledge.runtime.engine import FaqEngine, IndexMissing

        with self._lock:
            if self._engine is None:
                try:
                    self._engine = FaqEngine.from_settings(self.settings)
                except (IndexMissing, OSError, ValueError) as error:
                    # OSError/ValueError: the encoder cannot be loaded (not installed, not exported)
                    raise HTTPException(
                        status.HTTP_503_SERVICE_UNAVAILABLE,
                        f"The FAQ index or its encoder is not available ({error}); build it with "
                        "`make build-index`.",
                    ) from None
            engine = self._engine
        engine.reload_if_changed()
        return engine


def knowledge_service(request: Request) -> KnowledgeService:
    """FastAPI dependency: the app's KnowledgeService (built by the lifespan)."""
    service: KnowledgeService | None = getattr(request.app.state, "knowledge", None)
    if service is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "The FAQ engine is not set up: the app was started without its lifespan.",
        )
    return service


KnowledgeDep = Annotated[KnowledgeService, Depends(knowledge_service)]

# Documented on the routes that search or rebuild the FAQ index.
INDEX_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"description": "The FAQ index is not built or cannot be loaded",
          "content": {"application/json": {"schema": {
              "type": "object", "properties": {"detail": {"type": "string"}},
              "required": ["detail"]}}}},
}

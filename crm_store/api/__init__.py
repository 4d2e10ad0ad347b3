"""The CRM HTTP API (FastAPI)."""

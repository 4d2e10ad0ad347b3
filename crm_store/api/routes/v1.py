"""The /api/v1 router: every CRM route, each of which requires authentication."""

from __future__ import annotations

from fastapi import APIRouter

from crm_store.api.routes import (
    audit_log,
    auth,
    cases,
    conversations,
    customers,
    gaps,
    insights,
    leads,
    segments,
    suggestions,
)

router = APIRouter(prefix="/api/v1")
router.include_router(auth.router)
router.include_router(customers.router)
router.include_router(leads.router)
router.include_router(cases.router)
router.include_router(conversations.router)
router.include_router(audit_log.router)
router.include_router(suggestions.router)
router.include_router(gaps.router)
router.include_router(segments.router)
router.include_router(insights.router)

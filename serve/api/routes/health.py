"""Health: liveness (the process answers) and readiness (the Iceberg catalog answers)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from serve.api.deps import Lake, LakeDep
from serve.api.models import CheckStatus, HealthResponse, LivenessResponse
from serve.errors import CatalogUnavailableError

router = APIRouter(prefix="/health", tags=["health"])


def _check(lake: Lake) -> HealthResponse:
    checks: dict[str, CheckStatus] = {}
    problems: list[str] = []
    try:
        lake.ping()
        checks["catalog"] = "ok"
    except CatalogUnavailableError as error:
        checks["catalog"] = "error"
        problems.append(f"catalog: {error.message}")
    if problems:
        return HealthResponse(status="degraded", checks=checks, message="; ".join(problems))
    return HealthResponse(status="ok", checks=checks)


@router.get("", summary="Liveness with readiness details")
def health(lake: LakeDep) -> HealthResponse:
    """Always 200 while the process serves; ``status`` is ``degraded`` when a check fails."""
    return _check(lake)


@router.get("/live", summary="Liveness probe")
def live() -> LivenessResponse:
    """Always 200 while the process serves requests; checks nothing else."""
    return LivenessResponse()


@router.get(
    "/ready",
    summary="Readiness probe",
    responses={status.HTTP_503_SERVICE_UNAVAILABLE: {"model": HealthResponse, "description": "A check failed."}},
)
def ready(lake: LakeDep, response: Response) -> HealthResponse:
    """200 when the catalog answers, else 503 with the same body as ``/v1/health``."""
    result = _check(lake)
    if result.status != "ok":
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return result

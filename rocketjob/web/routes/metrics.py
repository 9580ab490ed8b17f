"""``/metrics``: Prometheus text (see :mod:`rocketjob.web.metrics`)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rocketjob.web.auth import require
from rocketjob.web.metrics import CONTENT_TYPE, render_metrics


@require("view")
async def metrics(request: Request) -> Response:
    """GET /metrics."""
    data = request.app.state.data
    text = await run_in_threadpool(lambda: render_metrics(data.snapshot(), data.servers()))
    return Response(text, media_type=CONTENT_TYPE)


ROUTES = [Route("/metrics", metrics)]

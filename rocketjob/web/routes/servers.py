"""Servers: heartbeat age, state, busy threads, CPU, memory, current jobs, and remote
control (pause, resume, stop, kill, thread dump) through the store."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rocketjob.control import ServerCommand
from rocketjob.web.auth import current_user, require
from rocketjob.web.data import MissionControlData
from rocketjob.web.paths import redirect
from rocketjob.web.render import flash, render, render_error
from rocketjob.web.routes import NavItem, form


@require("view")
async def servers_page(request: Request) -> Response:
    """GET /servers: every registered server and what its threads run."""
    data: MissionControlData = request.app.state.data

    def load() -> list[dict[str, Any]]:
        servers = data.servers()
        data.attach_running_jobs(servers)
        return servers

    servers = await run_in_threadpool(load)
    user = current_user(request)
    context = {
        "servers": servers, "commands": list(ServerCommand), "live": True,
        "can_act": user is not None and user.can("operator"),
    }  # fmt: skip
    return render(request, "servers.html", context)


@require("operator")
async def server_command(request: Request) -> Response:
    """POST /servers/command: queue a command for one server."""
    data = await form(request)
    name = str(data.get("name", ""))
    try:
        command = ServerCommand.parse(str(data.get("command", "")))
    except ValueError as exc:
        return render_error(request, 400, str(exc))
    state = request.app.state.data
    sent = await run_in_threadpool(state.send_command, name, command)
    user = current_user(request)
    who = user.name if user else "?"
    if sent:
        await run_in_threadpool(
            state.audit, who, f"server {command}", f"server {name}", "ok", "command queued"
        )
        flash(request, f"{command.replace('-', ' ')} sent to {name}; it acts on its next check")
    else:
        await run_in_threadpool(
            state.audit, who, f"server {command}", f"server {name}", "refused", "no such server"
        )
        flash(request, f"no server named {name}: it stopped or was reaped", "error")
    return redirect(request, "/servers")


NAV = [NavItem("Servers", "/servers")]
ROUTES = [
    Route("/servers", servers_page),
    Route("/servers/command", server_command, methods=["POST"]),
]

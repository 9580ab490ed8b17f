"""Job actions: one job, bulk on a filtered list, and edits. Every action is a POST with
a CSRF token, goes through the job's state machine and is written to the audit log."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rocketjob import codec
from rocketjob.errors import InvalidTransition, JobNotFound, ValidationError
from rocketjob.job import Job
from rocketjob.web.auth import current_user, require
from rocketjob.web.data import JOB_ACTIONS, VIEWS
from rocketjob.web.paths import redirect
from rocketjob.web.render import flash, render_error
from rocketjob.web.routes import form

LABELS = {"run_now": "run now"}


def _user_name(request: Request) -> str:
    user = current_user(request)
    return user.name if user else "?"


@require("operator")
async def job_action(request: Request) -> Response:
    """POST /job/{id}/action: retry, pause, resume, abort, run_now or destroy one job."""
    data = await form(request)
    job_id, action = request.path_params["job_id"], str(data.get("action", ""))
    if action not in JOB_ACTIONS:
        return render_error(request, 400, f"unknown action {action!r}")
    user = current_user(request)
    if action == "destroy" and (user is None or not user.can("admin")):
        return render_error(request, 403, "destroying a job needs the 'admin' role")
    state = request.app.state
    try:
        job = await run_in_threadpool(state.data.act, job_id, action)
    except (InvalidTransition, JobNotFound) as exc:
        await run_in_threadpool(
            state.data.audit, _user_name(request), action, f"job {job_id}", "refused", str(exc)
        )
        flash(request, str(exc), "error")
        return redirect(request, f"/job/{job_id}")
    await run_in_threadpool(
        state.data.audit, _user_name(request), action, f"job {job_id}", "ok", f"now {job.state}"
    )
    if action == "destroy":
        flash(request, f"job {job_id} destroyed")
        return redirect(request, "/jobs/all")
    flash(request, f"{LABELS.get(action, action)}: job {job_id} is now {job.state}")
    return redirect(request, f"/job/{job_id}")


@require("operator")
async def job_edit(request: Request) -> Response:
    """POST /job/{id}/edit: change priority and user_editable custom fields."""
    data = await form(request)
    job_id = request.path_params["job_id"]

    def apply() -> str:
        job = Job.find(job_id)
        changes: dict[str, object] = {}
        if "priority" in data:
            try:
                changes["priority"] = int(str(data["priority"]))
            except ValueError:
                raise ValidationError("priority must be a whole number from 1 to 100") from None
        for name, spec in type(job)._custom_fields.items():
            key = f"field.{name}"
            if spec.user_editable and key in data:
                changes[name] = _parse_field(str(data[key]), getattr(job, name))
        job.save(**changes)
        return ", ".join(f"{k}={v!r}" for k, v in changes.items())

    try:
        detail = await run_in_threadpool(apply)
    except (JobNotFound, ValidationError) as exc:
        who = _user_name(request)
        await run_in_threadpool(
            request.app.state.data.audit, who, "edit", f"job {job_id}", "refused", str(exc)
        )
        flash(request, str(exc), "error")
        return redirect(request, f"/job/{job_id}")
    await run_in_threadpool(
        request.app.state.data.audit, _user_name(request), "edit", f"job {job_id}", "ok", detail
    )
    flash(request, f"job {job_id} saved")
    return redirect(request, f"/job/{job_id}")


def _parse_field(text: str, current: object) -> object:
    """A form value for a custom field: as typed for str fields, JSON otherwise."""
    if isinstance(current, str) or current is None:
        return text
    try:
        return codec.loads(text)
    except ValueError:
        raise ValidationError(f"{text!r} is not valid JSON for this field") from None


@require("admin")
async def bulk_action(request: Request) -> Response:
    """POST /jobs/{view}/bulk: act on the ticked jobs, or on every job of the filtered
    list (at most BULK_LIMIT per request); one audit entry sums it up."""
    data = await form(request)
    view = VIEWS.get(request.path_params["view"])
    action = str(data.get("action", ""))
    if view is None or action not in JOB_ACTIONS:
        return render_error(request, 400, "unknown list or action")
    job_class, text = str(data.get("class", "")), str(data.get("q", ""))
    state = request.app.state.data
    if data.get("scope") == "all":
        ids = await run_in_threadpool(state.find_ids, view, job_class or None, text or None)
        target = f"{view.name} jobs (class={job_class or '*'}, text={text or '*'})"
    else:
        ids = [str(v) for v in data.getlist("ids")][:1000]
        target = f"{len(ids)} selected {view.name} jobs"

    def run() -> tuple[int, list[str]]:
        done, refused = 0, []
        for job_id in ids:
            try:
                state.act(job_id, action)
                done += 1
            except (InvalidTransition, JobNotFound) as exc:
                refused.append(str(exc))
        return done, refused

    done, refused = await run_in_threadpool(run)
    detail = f"{done} done, {len(refused)} refused" + (f"; first: {refused[0]}" if refused else "")
    await run_in_threadpool(
        state.audit,
        _user_name(request),
        f"bulk {action}",
        target,
        "ok" if done else "refused",
        detail,
    )
    flash(request, f"{LABELS.get(action, action)}: {detail}", "error" if refused else "ok")
    query = urlencode({k: v for k, v in (("class", job_class), ("q", text)) if v})
    return redirect(request, f"/jobs/{view.name}?{query}")


ROUTES = [
    Route("/job/{job_id}/action", job_action, methods=["POST"]),
    Route("/job/{job_id}/edit", job_edit, methods=["POST"]),
    Route("/jobs/{view}/bulk", bulk_action, methods=["POST"]),
]

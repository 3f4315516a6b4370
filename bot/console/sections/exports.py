"""Export jobs: the progress page, the progress as JSON (polled by the page's script) and the
finished file, to the operator who started the job, from whichever process answers."""

from __future__ import annotations

from aiohttp import web

from bot.console.call import Call
from bot.console.pages import Role, Section
from storage.exports import ExportRow

section = Section("exports")


async def _job(call: Call) -> ExportRow:
    assert call.exports is not None
    job = await call.exports.get(call.request.match_info["job"][:64], call.operator.id)
    if job is None:
        raise web.HTTPNotFound()
    return job


@section.get("/exports/{job}", role=Role.EDITOR)
async def export_page(call: Call) -> web.StreamResponse:
    """The progress of an export, and its file once ready."""
    return call.render("export.html", job=await _job(call))


@section.get("/exports/{job}/status", role=Role.EDITOR)
async def export_status(call: Call) -> web.StreamResponse:
    """The export's progress as JSON."""
    job = await _job(call)
    label = call.t("console.exports.progress", done=job.done, total=job.total)
    if job.ready:
        label = call.t("console.exports.ready", total=job.total)
    elif job.failed:
        label = call.t("console.exports.failed")
    return web.json_response(
        {
            "done": job.done,
            "total": job.total,
            "ready": job.ready,
            "failed": job.failed,
            "label": label,
        }
    )


@section.get("/exports/{job}/file", role=Role.EDITOR)
async def export_file(call: Call) -> web.StreamResponse:
    """The finished file."""
    job = await _job(call)
    assert call.exports is not None
    path = call.exports.path(job)
    if not job.ready or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(
        path, headers={"Content-Disposition": f'attachment; filename="{job.filename}"'}
    )

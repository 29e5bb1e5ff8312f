"""Thin handlers: each translates one HTTP call into one call on the service.

Validation of bodies and query strings happens in table.bind from the route's schemas, and
errors become JSON there; a handler only picks the arguments and returns plain data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..launchpad import __version__
from . import login
from .table import Call, json_response

if TYPE_CHECKING:
    from ..launchpad.service import LaunchpadService

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


async def health(service: LaunchpadService | None, call: Call) -> Any:
    body: dict[str, object]
    if service is None:  # registered in ComfyUI, whose app has not started us yet
        body = {"status": "ok", "state": "starting", "version": __version__, "mode": "comfyui", "workspace": None,
                "uptime": 0.0, "presets": 0, "error": None}
    else:
        body = service.health()
    if not login.authenticated(call.request):  # open with auth on: no paths or errors for strangers
        body = {"status": body["status"], "state": body["state"]}
    # a failed service is unhealthy: the container's HEALTHCHECK (curl -f) must say so
    return json_response(body, status=503) if body["state"] == "failed" else body


async def openapi(service: LaunchpadService | None, call: Call) -> dict[str, Any]:
    from .openapi import document

    return document(list(call.routes), mode=service.host.mode if service is not None else "comfyui")


# --- presets ---------------------------------------------------------------------------------------


async def list_presets(service: LaunchpadService, call: Call) -> dict[str, Any]:
    q = call.query
    return await service.list_presets(
        category=q.get("category"), search=q.get("search"), installed=q.get("installed"), sort=q.get("sort")
    )


async def get_preset(service: LaunchpadService, call: Call) -> dict[str, Any]:
    return await service.preset_detail(call.params["preset_id"])


async def install_presets(service: LaunchpadService, call: Call) -> Mapping[str, object]:
    return await service.install(call.body["presets"])


async def uninstall_preset(service: LaunchpadService, call: Call) -> Mapping[str, object]:
    return await service.uninstall(call.params["preset_id"])


async def cancel_preset(service: LaunchpadService, call: Call) -> dict[str, Any]:
    return await service.cancel_preset(call.params["preset_id"])


# --- workflows -------------------------------------------------------------------------------------


async def workflow_models(service: LaunchpadService, call: Call) -> dict[str, Any]:
    return await service.workflows.models(call.body["workflow"], call.body.get("wait", 0), call.body.get("name"))


async def install_workflow(service: LaunchpadService, call: Call) -> dict[str, Any]:
    b = call.body
    return await service.workflows.install(b["workflow"], b.get("name"), b.get("keys"), b.get("optional", False),
                                          b.get("choices"))


async def workflow_lock(service: LaunchpadService, call: Call) -> dict[str, Any]:
    return await service.workflows.lock(call.body["workflow"], call.body.get("name"))


async def installed_lock(service: LaunchpadService, call: Call) -> dict[str, Any]:
    return await service.installed_lock()


# --- downloads -------------------------------------------------------------------------------------


async def download_url(service: LaunchpadService, call: Call) -> dict[str, Any]:
    body = call.body
    return await service.download_url(body["url"], body["folder"], body.get("name"))


async def list_downloads(service: LaunchpadService, call: Call) -> Mapping[str, object]:
    return await service.downloads_snapshot()


async def clear_downloads(service: LaunchpadService, call: Call) -> dict[str, Any]:
    return await service.clear_finished_downloads()


async def cancel_download(service: LaunchpadService, call: Call) -> Mapping[str, object]:
    return await service.cancel_job(call.params["job_id"])


async def retry_download(service: LaunchpadService, call: Call) -> Mapping[str, object]:
    return await service.retry_job(call.params["job_id"])


# --- models ----------------------------------------------------------------------------------------


async def list_models(service: LaunchpadService, call: Call) -> dict[str, Any]:
    q = call.query
    return await service.list_models(
        folder=q.get("folder"), search=q.get("search"), offset=q.get("offset", 0), limit=q.get("limit", 100)
    )


async def delete_model(service: LaunchpadService, call: Call) -> dict[str, Any]:
    return await service.delete_model(call.params["model_id"])


async def migration(service: LaunchpadService, call: Call) -> dict[str, Any]:
    return await service.migration()


# --- system, queue, catalog, metrics ---------------------------------------------------------------


async def system_status(service: LaunchpadService, call: Call) -> dict[str, Any]:
    return await service.system_reading()


async def watch_system(service: LaunchpadService, call: Call) -> dict[str, Any]:
    return await service.watch_system(call.body["client_id"], call.body.get("ttl"))


async def unwatch_system(service: LaunchpadService, call: Call) -> dict[str, Any]:
    return await service.unwatch_system(call.params["client_id"])


async def comfy_queue(service: LaunchpadService, call: Call) -> dict[str, Any]:
    return service.queue()


async def catalog_warnings(service: LaunchpadService, call: Call) -> dict[str, Any]:
    return await service.catalog_warnings()


async def reload_catalog(service: LaunchpadService, call: Call) -> dict[str, Any]:
    return await service.reload_catalog()


async def metrics(service: LaunchpadService, call: Call) -> web.Response:
    response = web.Response(text=await service.metrics())
    response.headers["Content-Type"] = PROMETHEUS_CONTENT_TYPE
    return response

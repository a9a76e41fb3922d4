"""Typed keys for what the aiohttp applications carry."""

from aiohttp import web

from .runtime import Runtime

RUNTIME: web.AppKey[Runtime] = web.AppKey("routecar_runtime", Runtime)

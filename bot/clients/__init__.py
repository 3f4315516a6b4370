"""Outbound platform API clients (async, aiohttp)."""

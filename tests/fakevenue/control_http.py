"""The HTTP side of a fake venue's ``/_fake/`` control API, shared by every control client."""

from __future__ import annotations

from typing import Any

import aiohttp


class HttpControl:
    def __init__(self, url: str) -> None:
        self.url = url

    async def _call(self, method: str, path: str, body: Any = None, **query: str) -> Any:
        async with aiohttp.ClientSession() as session, session.request(
                method, f"{self.url}/_fake/{path}", json=body, params=query) as response:
            result = await response.json()
            if response.status != 200:
                raise RuntimeError(f"fake venue control {path}: {result}")
            return result

"""The connection side of :class:`HopPolicy`: refuse non-public addresses where we connect.

A name checked by one DNS lookup and connected to after another (DNS rebinding, or a short
TTL) would slip past a check made beforehand. So the check sits in the resolver that aiohttp's
connector itself uses: the addresses it returns are exactly the ones connected to, and a name
that resolves to any refused address is refused as a whole. IP literals never reach a
resolver; :meth:`HopPolicy.check_url` checks those before the request.
"""

from __future__ import annotations

import socket
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from ..url_policy import HopPolicy


class GuardedResolver(AbstractResolver):
    """aiohttp's default resolver, with every answer checked against ``policy``."""

    def __init__(self, policy: HopPolicy) -> None:
        self.policy = policy
        self._inner = aiohttp.DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        for answer in answers:
            self.policy.check_address(host, answer["host"])
        return answers

    async def close(self) -> None:
        await self._inner.close()


def guarded_session(policy: HopPolicy, **options: Any) -> aiohttp.ClientSession:
    """A session whose every connection goes to an address ``policy`` allows (no proxies from the env)."""
    limit = options.pop("limit", 100)
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=0, resolver=GuardedResolver(policy))
    return aiohttp.ClientSession(connector=connector, trust_env=False, **options)

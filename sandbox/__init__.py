"""A local Discord for hackbot: a Discord-compatible server and a driver for tests and demos.

    from sandbox import Sandbox
    async with Sandbox.start(config={...}) as sb:
        ana = await sb.add_member("ana", roles=["Organiser"], locale="fr")
        reply = await ana.slash("about")

The driver is imported lazily so that ``sandbox.rules`` and ``sandbox.server`` can be
used on their own. See sandbox/README.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.driver import ChannelView, InteractionFailed, Reply, Sandbox, SandboxMember

__all__ = ["ChannelView", "InteractionFailed", "Reply", "Sandbox", "SandboxMember"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from sandbox import driver

        return getattr(driver, name)
    raise AttributeError(f"module 'sandbox' has no attribute {name!r}")

"""The sandbox test driver: :class:`Sandbox`, :class:`SandboxMember`, :class:`Reply`."""

from sandbox.driver.member import SandboxMember
from sandbox.driver.reply import InteractionFailed, Reply
from sandbox.driver.sandbox import Sandbox
from sandbox.driver.views import ChannelView

__all__ = ["ChannelView", "InteractionFailed", "Reply", "Sandbox", "SandboxMember"]

"""A local, Discord-compatible server (REST v10 + gateway) for tests, rehearsals and benchmarks."""

from sandbox.server.core import DEFAULT_BOT_PERMISSIONS, DEFAULT_TOKEN, SandboxServer, Violation

__all__ = ["DEFAULT_BOT_PERMISSIONS", "DEFAULT_TOKEN", "SandboxServer", "Violation"]

"""Pure rule engine of the local Discord sandbox.

Every module here works on Discord-JSON-shaped dicts and raises
:class:`sandbox.rules.errors.DiscordError` the way the real API answers. Nothing
here does I/O or imports aiohttp/discord, so the server can call it from any
request handler and the tests can exercise it directly.
"""

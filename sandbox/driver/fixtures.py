"""pytest fixtures for tests that drive the bot through the sandbox.

Register them once, in the root ``tests/conftest.py``::

    pytest_plugins = ["sandbox.driver.fixtures"]

* ``openapi_validator`` (session): Discord's OpenAPI description, loaded once per run.
* ``start_sandbox``: ``sb = await start_sandbox(config={...}, **Sandbox.start kwargs)``;
  the database goes in the test's ``tmp_path``; the sandbox is closed at teardown,
  and the test FAILS there if the sandbox refused a request the test did not
  declare with ``sb.expect_violation(...)`` (or take with ``sb.take_violations()``).
* ``sb``: ``start_sandbox()`` with the default configuration.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from sandbox.driver.sandbox import Sandbox


@pytest.fixture(scope="session")
def openapi_validator() -> Any:
    from sandbox.rules.openapi import SpecValidator

    return SpecValidator.shared()


StartSandbox = Callable[..., Awaitable[Sandbox]]


@pytest.fixture
async def start_sandbox(openapi_validator: Any, tmp_path: Path) -> AsyncIterator[StartSandbox]:
    started: list[Any] = []

    async def start(config: Any = None, **kwargs: Any) -> Sandbox:
        kwargs.setdefault("tmp_path", tmp_path / f"sandbox{len(started)}")
        starting = Sandbox.start(config, **kwargs)
        sb = await starting.__aenter__()
        started.append(starting)
        return sb

    yield start
    errors: list[BaseException] = []
    for starting in reversed(started):
        try:
            await starting.__aexit__(None, None, None)
        except AssertionError as exc:
            errors.append(exc)
        except Exception as exc:  # a failing close must not hide the other sandboxes' checks
            errors.append(exc)
    if errors:
        raise errors[0]


@pytest.fixture
async def sb(start_sandbox: StartSandbox) -> Sandbox:
    return await start_sandbox()

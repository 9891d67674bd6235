import pytest

from sandbox.rules.openapi import SpecValidator


@pytest.fixture(scope="session")
def spec_validator() -> SpecValidator:
    """Discord's OpenAPI description, loaded once for the whole test session."""
    return SpecValidator.shared()

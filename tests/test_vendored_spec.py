"""The sandbox validates against a vendored copy of Discord's OpenAPI description
(so a fresh clone works without the shared folder); it must match the shared one."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENDORED = ROOT / "sandbox" / "discord-api-spec" / "openapi.json"
SHARED = ROOT.parent / "shared" / "discord-api-spec" / "openapi.json"


def test_vendored_spec_is_present_with_its_licence():
    assert VENDORED.stat().st_size > 100_000
    assert (VENDORED.parent / "LICENSE").exists() and (VENDORED.parent / "SOURCE").exists()


@pytest.mark.skipif(
    not SHARED.exists(), reason="no ../shared/discord-api-spec next to this checkout"
)
def test_vendored_spec_matches_the_shared_one():
    assert VENDORED.read_bytes() == SHARED.read_bytes(), (
        "../shared/discord-api-spec changed: copy it to sandbox/discord-api-spec/"
    )

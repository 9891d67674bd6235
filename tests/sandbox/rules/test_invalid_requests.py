"""Discord's invalid-request count (401, 403, 429 except shared 429s) in a sliding window,
and the 429 storms of sandbox.rules.faults."""

import pytest

from sandbox.rules.errors import RateLimited
from sandbox.rules.faults import Faults
from sandbox.rules.invalid_requests import BAN_THRESHOLD, WINDOW_S, InvalidRequests, is_invalid


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_what_discord_counts_as_invalid():
    assert is_invalid(401) and is_invalid(403)
    assert is_invalid(429, "user") and is_invalid(429, "global") and is_invalid(429)
    assert not is_invalid(429, "shared") and not is_invalid(429, "Shared")
    assert not any(is_invalid(status) for status in (200, 204, 400, 404, 500, 502))


def test_the_window_slides_and_the_peak_stays():
    clock = Clock()
    invalid = InvalidRequests(time_source=clock)
    assert (invalid.window_s, invalid.limit) == (WINDOW_S, BAN_THRESHOLD) == (600.0, 10_000)
    for status in (401, 403, 429, 404, 500, 200):
        invalid.record(status, "user")
    assert not invalid.record(429, "shared")
    assert invalid.count == 3 and invalid.total == 3
    assert dict(invalid.by_status) == {401: 1, 403: 1, 429: 1}
    clock.now += 300
    invalid.record(429, "user")
    assert invalid.count == 4 and invalid.peak == 4
    clock.now += 300  # the first three are exactly 10 minutes old: out of the window
    assert invalid.count == 1
    invalid.record(403)
    assert invalid.count == 2 and invalid.peak == 4 and invalid.total == 5
    assert not invalid.banned
    assert invalid.summary()["peak"] == 4
    invalid.reset()
    assert invalid.count == invalid.total == invalid.peak == 0


def test_reaching_the_limit_within_one_window_is_a_ban():
    clock = Clock()
    invalid = InvalidRequests(window_s=10, limit=5, time_source=clock)
    for _ in range(4):
        invalid.record(401)
        clock.now += 3  # spread out: never five in ten seconds
    assert invalid.peak == 4 and not invalid.banned
    for _ in range(5):
        invalid.record(429, "global")
    assert invalid.banned
    with pytest.raises(ValueError):
        InvalidRequests(window_s=0)


def test_a_storm_answers_a_share_of_requests_429_with_a_retry_delay():
    faults = Faults(rate_limit_rate=0.25, rate_limit_retry_after=(0.5, 2.0), seed=9)
    picks = [faults.pick_rate_limit() for _ in range(400)]
    limited = [p for p in picks if p is not None]
    assert 60 < len(limited) < 140  # about 100
    assert faults.injected_rate_limits == len(limited)
    for answer in limited:
        assert isinstance(answer, RateLimited) and answer.status == 429
        assert 0.5 <= answer.retry_after <= 2.0
        headers = answer.headers()
        assert headers["X-RateLimit-Scope"] == "user" and headers["Via"]
        assert int(headers["Retry-After"]) >= 1
        assert answer.body()["global"] is False
    again = Faults(rate_limit_rate=0.25, rate_limit_retry_after=(0.5, 2.0), seed=9)
    assert [p is None for p in picks] == [again.pick_rate_limit() is None for _ in range(400)]


def test_storm_scopes_routes_and_bounds():
    shared = Faults(rate_limit_rate=1.0, rate_limit_scope="shared").pick_rate_limit()
    assert shared is not None and shared.headers()["X-RateLimit-Scope"] == "shared"
    global_ = Faults(rate_limit_rate=1.0, rate_limit_scope="global").pick_rate_limit()
    assert global_ is not None and global_.body()["global"] is True
    only = Faults(rate_limit_rate=1.0, routes=frozenset({"GET /users/@me"}))
    assert only.pick_rate_limit(route="POST /channels/{channel_id}/messages") is None
    assert only.pick_rate_limit(route="GET /users/@me") is not None
    assert Faults().pick_rate_limit() is None
    for bad in (
        {"rate_limit_rate": 2.0},
        {"rate_limit_scope": "everyone"},
        {"rate_limit_retry_after": (2.0, 1.0)},
    ):
        with pytest.raises(ValueError):
            Faults(**bad)
    storm = Faults(rate_limit_rate=0.5)
    storm.clear()
    assert storm.rate_limit_rate == 0.0


def test_the_next_n_requests_get_a_429_for_sure():
    faults = Faults(rate_limit_next=3, rate_limit_retry_after=(0.1, 0.1))
    picks = [faults.pick_rate_limit() for _ in range(5)]
    assert [p is not None for p in picks] == [True, True, True, False, False]
    assert picks[0].retry_after == 0.1 and faults.injected_rate_limits == 3
    only = Faults(rate_limit_next=1, routes=frozenset({"GET /users/@me"}))
    assert only.pick_rate_limit(route="POST /channels/{channel_id}/messages") is None
    assert only.pick_rate_limit(route="GET /users/@me") is not None
    assert only.pick_rate_limit(route="GET /users/@me") is None
    with pytest.raises(ValueError):
        Faults(rate_limit_next=-1)

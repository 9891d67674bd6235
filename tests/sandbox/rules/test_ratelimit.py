import pytest

from sandbox.rules.errors import RateLimited
from sandbox.rules.ratelimit import CHANNEL_RENAME, RateLimiter, bucket_hash

MESSAGES = "/channels/{channel_id}/messages"
CHANNEL = "/channels/{channel_id}"
CALLBACK = "/interactions/{interaction_id}/{interaction_token}/callback"


class FakeTime:
    def __init__(self, start: float = 100.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock():
    return FakeTime()


def limiter(clock, **kwargs):
    return RateLimiter(time_source=clock, wall_clock=lambda: 1_700_000_000.0 + clock.now, **kwargs)


def test_headers_count_down_then_429_until_window_closes(clock):
    rl = limiter(clock, bucket_overrides={f"POST {MESSAGES}": (3, 5.0)})
    remaining = [rl.hit("POST", MESSAGES, "1")["X-RateLimit-Remaining"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    clock.advance(2.0)
    with pytest.raises(RateLimited) as info:
        rl.hit("POST", MESSAGES, "1")
    err = info.value
    assert err.retry_after == pytest.approx(3.0)
    assert not err.is_global
    headers = err.headers()
    assert headers["X-RateLimit-Scope"] == "user"
    assert headers["Via"] == "1.1 google"
    assert headers["X-RateLimit-Bucket"] == bucket_hash(f"POST {MESSAGES}")
    assert float(headers["X-RateLimit-Reset"]) == pytest.approx(1_700_000_000.0 + 105.0)
    clock.advance(3.0)
    assert rl.hit("POST", MESSAGES, "1")["X-RateLimit-Remaining"] == "2"


def test_success_headers(clock):
    rl = limiter(clock, default_bucket=(5, 1.0))
    headers = rl.hit("GET", "/users/@me", "")
    assert headers["X-RateLimit-Limit"] == "5"
    assert headers["X-RateLimit-Remaining"] == "4"
    assert float(headers["X-RateLimit-Reset-After"]) == pytest.approx(1.0)
    assert float(headers["X-RateLimit-Reset"]) == pytest.approx(1_700_000_101.0)
    assert headers["X-RateLimit-Bucket"] == bucket_hash("GET /users/@me")


def test_major_parameters_have_separate_buckets(clock):
    rl = limiter(clock, bucket_overrides={f"POST {MESSAGES}": (1, 5.0)})
    rl.hit("POST", MESSAGES, "1")
    rl.hit("POST", MESSAGES, "2")
    with pytest.raises(RateLimited):
        rl.hit("POST", MESSAGES, "1")


def test_methods_have_separate_buckets_and_bare_template_override(clock):
    rl = limiter(clock, default_bucket=(1, 1.0))
    rl.hit("GET", MESSAGES, "1")
    rl.hit("POST", MESSAGES, "1")  # separate bucket (its own default override here is 5/5s)
    rl2 = limiter(clock, bucket_overrides={"/guilds/{guild_id}": (2, 1.0)}, default_bucket=(1, 1.0))
    assert rl2.bucket_for("PATCH", "/guilds/{guild_id}") == ("/guilds/{guild_id}", (2, 1.0))
    rl2.hit("GET", "/guilds/{guild_id}", "9")
    rl2.hit("PATCH", "/guilds/{guild_id}", "9")  # bare-template override is shared by methods
    with pytest.raises(RateLimited):
        rl2.hit("GET", "/guilds/{guild_id}", "9")


def test_global_limit_and_exemption(clock):
    rl = limiter(clock, global_per_second=50, default_bucket=(1000, 1.0))
    for i in range(50):
        rl.hit("GET", "/channels/{channel_id}", str(i))
    with pytest.raises(RateLimited) as info:
        rl.hit("GET", "/channels/{channel_id}", "999")
    err = info.value
    assert err.is_global and err.scope == "global"
    assert err.body()["global"] is True
    assert err.headers()["X-RateLimit-Global"] == "true"
    assert err.retry_after == pytest.approx(1.0)
    # Interaction callbacks are not counted against the global limit.
    rl.hit("POST", CALLBACK, "interaction-1", global_exempt=True)
    clock.advance(1.0)
    rl.hit("GET", "/channels/{channel_id}", "1000")
    stats = rl.stats
    assert stats["requests"] == 53
    assert stats["rate_limited"] == 1 and stats["global_rate_limited"] == 1
    assert stats["global_exempt"] == 1
    assert stats["limited_by_route"] == {"GET /channels/{channel_id}": 1}


def test_exempt_requests_still_use_route_buckets(clock):
    rl = limiter(clock, bucket_overrides={f"POST {CALLBACK}": (1, 5.0)})
    rl.hit("POST", CALLBACK, "a", global_exempt=True)
    with pytest.raises(RateLimited) as info:
        rl.hit("POST", CALLBACK, "a", global_exempt=True)
    assert not info.value.is_global


def test_rejected_requests_consume_nothing(clock):
    rl = limiter(clock, global_per_second=2, default_bucket=(1, 10.0))
    rl.hit("GET", "/a", "x")
    with pytest.raises(RateLimited):
        rl.hit("GET", "/a", "x")  # route 429: global slot not consumed
    rl.hit("GET", "/b", "x")  # second global slot still free
    with pytest.raises(RateLimited) as info:
        rl.hit("GET", "/c", "x")
    assert info.value.is_global


def test_channel_rename_sub_bucket(clock):
    rl = limiter(clock)
    rl.hit("PATCH", CHANNEL, "7", sub_bucket=CHANNEL_RENAME)
    clock.advance(1.1)
    rl.hit("PATCH", CHANNEL, "7", sub_bucket=CHANNEL_RENAME)
    clock.advance(1.1)
    # Topic edits still go through: only renames are limited this hard.
    headers = rl.hit("PATCH", CHANNEL, "7")
    assert headers["X-RateLimit-Remaining"] == "4"
    with pytest.raises(RateLimited) as info:
        rl.hit("PATCH", CHANNEL, "7", sub_bucket=CHANNEL_RENAME)
    assert info.value.retry_after == pytest.approx(600.0 - 2.2)
    assert info.value.bucket == bucket_hash(CHANNEL_RENAME)
    rl.hit("PATCH", CHANNEL, "8", sub_bucket=CHANNEL_RENAME)  # another channel
    clock.advance(600)
    rl.hit("PATCH", CHANNEL, "7", sub_bucket=CHANNEL_RENAME)


def test_channel_create_is_a_slow_bucket_by_default(clock):
    rl = limiter(clock)
    route = "/guilds/{guild_id}/channels"
    for _ in range(5):
        rl.hit("POST", route, "1")
    with pytest.raises(RateLimited) as info:
        rl.hit("POST", route, "1")
    assert info.value.retry_after == pytest.approx(10.0)


def test_global_can_be_disabled_and_reset_clears(clock):
    rl = limiter(clock, global_per_second=0, default_bucket=(10_000, 1.0))
    for i in range(200):
        rl.hit("GET", "/x", str(i))
    assert rl.stats["rate_limited"] == 0
    rl.reset()
    assert rl.stats["requests"] == 0


def test_expired_windows_are_pruned(clock):
    rl = limiter(clock, global_per_second=0, default_bucket=(1, 1.0))
    for i in range(999):
        rl.hit("GET", "/x", str(i))
    clock.advance(2)
    rl.hit("GET", "/x", "new")
    assert len(rl._windows) == 1


def test_a_refused_request_does_not_open_a_window(clock):
    rl = limiter(clock, global_per_second=1, default_bucket=(1, 10.0))
    rl.hit("GET", "/a", "x")
    clock.advance(0.5)
    with pytest.raises(RateLimited):
        rl.hit("GET", "/b", "x")  # global 429; /b's window must not start now
    clock.advance(0.6)
    headers = rl.hit("GET", "/b", "x")
    assert float(headers["X-RateLimit-Reset-After"]) == pytest.approx(10.0)

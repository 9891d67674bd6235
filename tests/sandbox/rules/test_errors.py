from sandbox.rules.errors import DiscordError, RateLimited, invalid_form_body


def test_discord_error_body_without_errors():
    err = DiscordError(404, 10003, "Unknown Channel")
    assert err.status == 404
    assert err.body() == {"code": 10003, "message": "Unknown Channel"}
    assert "10003" in str(err)


def test_invalid_form_body_carries_errors_tree():
    tree = {"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "x"}]}}
    err = invalid_form_body(tree)
    assert (err.status, err.code, err.message) == (400, 50035, "Invalid Form Body")
    assert err.body() == {"code": 50035, "message": "Invalid Form Body", "errors": tree}


def test_rate_limited_route_bucket_headers_and_body():
    err = RateLimited(0.25, bucket="abc", limit=5, reset_at=1000.5)
    assert err.status == 429
    assert err.body() == {
        "message": "You are being rate limited.",
        "retry_after": 0.25,
        "global": False,
        "code": 0,
    }
    headers = err.headers()
    assert headers["Via"] == "1.1 google"
    assert headers["Retry-After"] == "1"
    assert headers["X-RateLimit-Scope"] == "user"
    assert headers["X-RateLimit-Bucket"] == "abc"
    assert headers["X-RateLimit-Limit"] == "5"
    assert headers["X-RateLimit-Remaining"] == "0"
    assert float(headers["X-RateLimit-Reset-After"]) == 0.25
    assert float(headers["X-RateLimit-Reset"]) == 1000.5
    assert "X-RateLimit-Global" not in headers


def test_rate_limited_global():
    err = RateLimited(2.4, is_global=True)
    assert err.scope == "global"
    assert err.body()["global"] is True
    headers = err.headers()
    assert headers["X-RateLimit-Global"] == "true"
    assert headers["X-RateLimit-Scope"] == "global"
    assert headers["Retry-After"] == "3"
    assert headers["Via"] == "1.1 google"


def test_rate_limited_custom_code_and_negative_retry_clamped():
    err = RateLimited(
        -1,
        code=20028,
        message="The write action you are performing on the channel has hit the write rate limit.",
    )
    assert err.retry_after == 0.0
    assert err.body()["code"] == 20028

"""Abuse and malformed requests on /signup: CSRF, rate limit, oversized bodies. Never a 500."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from support.signup import (
    accepting,
    csrf_token,
    post_signup,
    signup_fields,
    tenant_count,
    use_verifier,
)

from billhive.config import Settings


def _per_minute() -> int:
    return int(Settings().signup_rate_limit.split(" ", 1)[0])


def test_post_without_csrf_token_is_refused_with_a_friendly_page(
    app: Any, client: Any, session: Session
) -> None:
    verifier = use_verifier(app, accepting)
    response = client.post("/signup", data=signup_fields())
    assert response.status_code == 400
    assert "The form has expired" in response.get_data(as_text=True)
    assert verifier.calls == 0
    assert tenant_count(session) == 0


def test_post_with_a_forged_csrf_token_is_refused(app: Any, client: Any) -> None:
    use_verifier(app, accepting)
    csrf_token(client)  # the session exists, the token does not match it
    response = client.post("/signup", data={**signup_fields(), "csrf_token": "forged"})
    assert response.status_code == 400


def test_csrf_is_enforced_in_the_test_configuration(app: Any) -> None:
    assert app.config.get("WTF_CSRF_ENABLED", True) is True
    assert "csrf" in app.extensions


def test_too_many_signup_posts_from_one_address_get_a_friendly_429_page(
    app: Any, client: Any
) -> None:
    use_verifier(app, accepting)
    token = csrf_token(client)
    statuses = [
        client.post("/signup", data={"csrf_token": token}).status_code for _ in range(_per_minute())
    ]
    response = client.post("/signup", data={"csrf_token": token})
    assert set(statuses) == {422}
    assert response.status_code == 429
    page = response.get_data(as_text=True)
    assert "Too many attempts" in page
    assert "Traceback" not in page


def test_the_rate_limit_counts_per_client_address(app: Any, client: Any) -> None:
    use_verifier(app, accepting)
    token = csrf_token(client)
    for _ in range(_per_minute()):
        client.post("/signup", data={"csrf_token": token})
    other = client.post(
        "/signup", data={"csrf_token": token}, environ_base={"REMOTE_ADDR": "10.9.8.7"}
    )
    assert other.status_code == 422


def test_the_rate_limit_does_not_touch_reading_the_form(app: Any, client: Any) -> None:
    for _ in range(_per_minute() + 2):
        assert client.get("/signup").status_code == 200


def test_a_body_over_the_size_limit_gets_a_friendly_413_page(app: Any, client: Any) -> None:
    use_verifier(app, accepting)
    token = csrf_token(client)
    huge = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = client.post("/signup", data={"csrf_token": token, "display_name": huge})
    assert response.status_code == 413
    assert "That was too much" in response.get_data(as_text=True)


def test_a_non_utf8_body_is_refused_without_a_500(app: Any, client: Any) -> None:
    use_verifier(app, accepting)
    token = csrf_token(client)
    body = f"csrf_token={token}&display_name=%FF%FE&consent=y".encode()
    response = client.post("/signup", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code in {400, 422}


def test_repeated_fields_are_read_once_without_a_500(app: Any, client: Any) -> None:
    use_verifier(app, accepting)
    response = post_signup(client, display_name=["One", "Two"])
    assert response.status_code == 303

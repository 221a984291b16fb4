"""Finding 1: the admin login is locked per account and per client after repeated failures
(django-axes), and Django's password validators refuse weak staff passwords."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-staple-7"


def log_in(client, username: str, password: str, address: str = "203.0.113.7"):
    client.get("/admin/login/", REMOTE_ADDR=address)
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password, "next": "/admin/"},
        REMOTE_ADDR=address,
    )


def logged_in(client) -> bool:
    return client.get("/admin/").status_code == 200


@pytest.fixture
def organizer():
    return get_user_model().objects.create_superuser("organizer", "o@example.org", PASSWORD)


def test_repeated_wrong_passwords_lock_the_client_out_even_with_the_right_one(client, organizer, settings):
    answers = [
        log_in(client, "organizer", "wrong-guess").status_code for _ in range(settings.AXES_FAILURE_LIMIT)
    ]
    assert answers[:-1] == [200] * (settings.AXES_FAILURE_LIMIT - 1)  # the form again, with its error
    assert answers[-1] == 429  # the failure that reaches the limit locks at once
    locked = log_in(client, "organizer", PASSWORD)
    assert locked.status_code == 429
    assert not logged_in(client)


def test_the_account_is_locked_whichever_address_the_guesses_come_from(client, organizer, settings):
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, "organizer", "wrong-guess", address=f"198.51.100.{attempt + 1}")
    assert log_in(client, "organizer", PASSWORD, address="192.0.2.200").status_code == 429
    assert not logged_in(client)


def test_a_client_guessing_many_accounts_is_locked_too(client, organizer, settings):
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, f"someone-{attempt}", "wrong-guess", address="203.0.113.9")
    assert log_in(client, "organizer", PASSWORD, address="203.0.113.9").status_code == 429


def test_the_right_password_works_below_the_limit(client, organizer):
    log_in(client, "organizer", "one-typo")
    response = log_in(client, "organizer", PASSWORD)
    assert response.status_code == 302 and logged_in(client)


@pytest.mark.parametrize("weak", ["password", "12345678", "organizer1", "short1"])
def test_weak_staff_passwords_are_refused(weak, organizer):
    with pytest.raises(ValidationError):
        validate_password(weak, user=organizer)
    validate_password(PASSWORD, user=organizer)

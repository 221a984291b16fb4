"""Finding 8: kiosk token guesses are limited per client, with a clear 429."""

from __future__ import annotations

import pytest

from tests.dashboard.test_goal_page import seed
from tests.factories import make_campaign
from tests.screens.test_kiosk import GIFTS, add_screen

pytestmark = pytest.mark.django_db
GUESSER, VENUE = "203.0.113.50", "198.51.100.20"


@pytest.fixture
def screen_token(store, settings):
    settings.KIOSK_TOKEN_GUESSES = 5
    campaign = make_campaign()
    seed(store, campaign, GIFTS)
    _, token = add_screen(campaign)
    return token


def guess(client, number: int, address: str = GUESSER):
    return client.get(f"/s/guessed-token-number-{number:06d}/", REMOTE_ADDR=address)


def test_a_client_that_keeps_guessing_tokens_gets_429_for_a_while(client, screen_token, settings):
    assert [guess(client, n).status_code for n in range(5)] == [404] * 5
    blocked = guess(client, 5)
    assert blocked.status_code == 429 and "Too many attempts" in blocked.content.decode()
    assert 0 < int(blocked["Retry-After"]) <= settings.KIOSK_GUESS_WINDOW_SECONDS
    unknown = client.get(f"/s/{'x' * 32}/snapshot.json", REMOTE_ADDR=GUESSER)
    assert unknown.status_code == 429 and unknown.json()["retry_after"] > 0
    # A real screen behind the same address keeps working (192-bit tokens: refusing them would
    # protect nothing and black out a venue's screens), and so do screens elsewhere.
    assert client.get(f"/s/{screen_token}/", REMOTE_ADDR=GUESSER).status_code == 200
    assert client.get(f"/s/{screen_token}/", REMOTE_ADDR=VENUE).status_code == 200


def test_known_screens_never_count_as_guesses(client, screen_token):
    for _ in range(20):  # a screen polling its snapshot all night
        assert client.get(f"/s/{screen_token}/snapshot.json", REMOTE_ADDR=VENUE).status_code == 200
    assert guess(client, 1, address=VENUE).status_code == 404


def test_ipv6_clients_are_counted_by_their_64(client, screen_token):
    for n in range(5):
        guess(client, n, address=f"2001:db8:1:2::{n + 1:x}")
    assert guess(client, 9, address="2001:db8:1:2:ffff::9").status_code == 429
    assert guess(client, 9, address="2001:db8:1:3::1").status_code == 404

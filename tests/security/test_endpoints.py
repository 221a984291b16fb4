"""Finding 4: a campaign's endpoint URL cannot point the worker at an internal service, and no
foreign response body is ever shown."""

from __future__ import annotations

import http.server
import threading

import pytest
from django.core.exceptions import ValidationError

from tests.factories import make_campaign

FOREIGN = b"<html><body>db_password=hunter2</body></html>"


class Recorder:
    """A local HTTP server that counts what reaches it and answers as told."""

    def __init__(self, status: int = 500, headers: dict[str, str] | None = None, body: bytes = FOREIGN):
        recorder = self
        self.requests: list[dict[str, str]] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                recorder.requests.append(dict(self.headers))
                self.rfile.read(int(self.headers.get("content-length", 0)))
                self.send_response(status)
                for name, value in (headers or {"content-type": "text/html"}).items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder():
    server = Recorder()
    yield server
    server.close()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5:8000",
        "http://127.0.0.1:9",
        "http://admin:pw@127.0.0.1:8001",
    ],
)
def test_an_organizer_cannot_save_an_endpoint_outside_the_allow_list(url, settings):
    settings.INGEST_ALLOWED_ENDPOINTS = ["127.0.0.1:8001"]
    campaign = make_campaign()
    campaign.endpoint_url = url
    with pytest.raises(ValidationError) as refused:
        campaign.full_clean()
    assert "endpoint_url" in refused.value.message_dict
    campaign.endpoint_url = "http://127.0.0.1:8001"
    campaign.full_clean()
    campaign.endpoint_url = ""  # AWS
    campaign.full_clean()


def test_production_allows_no_endpoint_but_aws(tmp_path):
    from tests.security.test_settings import fresh_env, setting

    env = fresh_env(tmp_path, DJANGO_SECRET_KEY="k" * 50)
    assert setting(env, "INGEST_ALLOWED_ENDPOINTS") == "[]"


def test_the_worker_sends_nothing_to_an_endpoint_outside_the_allow_list(recorder, settings):
    from ingest.streams import StreamReader

    settings.INGEST_ALLOWED_ENDPOINTS = ["127.0.0.1:1"]  # a campaign saved before the setting changed
    reader = StreamReader(table="Donations", region="us-east-1", endpoint_url=recorder.url)
    with pytest.raises(Exception) as refused:
        reader.describe()
    assert type(refused.value).__name__ == "EndpointNotAllowed"
    assert recorder.requests == []


def test_a_foreign_error_body_never_reaches_the_error_text(recorder, settings):
    from ingest.streams import StreamReader, error_text

    settings.INGEST_ALLOWED_ENDPOINTS = ["127.0.0.1"]
    reader = StreamReader(table="Donations", region="us-east-1", endpoint_url=recorder.url)
    with pytest.raises(Exception) as failed:
        reader.describe()
    assert recorder.requests  # it was allowed, and answered
    for text in (str(failed.value), error_text(failed.value), repr(failed.value.args)):
        assert "db_password" not in text and "<html" not in text
    assert error_text(failed.value).startswith("HTTP500")


def test_dynamodb_errors_keep_their_code_and_a_bounded_message(settings):
    from botocore.exceptions import ClientError

    from ingest.streams import error_text

    error = ClientError(
        {
            "Error": {
                "Code": "ResourceNotFoundException",
                "Message": "Requested resource not found" + "!" * 999,
            }
        },
        "DescribeTable",
    )
    text = error_text(error)
    assert text.startswith("ResourceNotFoundException: Requested resource not found") and len(text) < 400
    raw = ClientError({"Error": {"Code": "502", "Message": "db_password=x"}}, "GetRecords")
    assert "db_password" not in error_text(raw)


def test_redirects_are_never_followed(settings):
    from ingest.streams import StreamReader

    elsewhere = Recorder(status=200, body=b"{}", headers={"content-type": "application/x-amz-json-1.0"})
    redirector = Recorder(status=307, body=b"", headers={"Location": f"{elsewhere.url}/"})
    try:
        settings.INGEST_ALLOWED_ENDPOINTS = ["127.0.0.1"]
        reader = StreamReader(table="Donations", region="us-east-1", endpoint_url=redirector.url)
        with pytest.raises(Exception):  # noqa: B017 - whichever: what matters is where requests went
            reader.describe()
        assert redirector.requests and elsewhere.requests == []
    finally:
        redirector.close()
        elsewhere.close()

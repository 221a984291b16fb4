"""A stand-in DynamoDB endpoint that answers every request with one documented AWS error.

moto does not enforce IAM on DynamoDB and answers unknown keys with an XML error DynamoDB never
sends, so it cannot show AccessDeniedException or UnrecognizedClientException. This server answers
as DynamoDB does (AWS DynamoDB API reference, "Common errors" and "Error handling"): HTTP 400, a JSON
body with `__type` "com.amazon.coral.service#<Code>" and a message, and the x-amzn-ErrorType header.
botocore parses it exactly as it would parse AWS's answer.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MESSAGES = {
    "UnrecognizedClientException": "The security token included in the request is invalid.",
    "AccessDeniedException": "User: arn:aws:iam::123456789012:user/dashboard is not authorized to "
    "perform: dynamodb:DescribeTable on resource: arn:aws:dynamodb:us-east-1:123456789012:table/Donations "
    "because no identity-based policy allows the dynamodb:DescribeTable action",
}


class AwsErrorEndpoint:
    def __init__(self, code: str):
        body = json.dumps({"__type": f"com.amazon.coral.service#{code}", "message": MESSAGES[code]}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(400)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("x-amzn-ErrorType", f"{code}:")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> AwsErrorEndpoint:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

"""Real local servers that notifications are delivered to: an HTTP receiver and an SMTP server (aiosmtpd)."""

import contextlib
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

from tests.pgcluster import free_port


class Receiver:
    """An HTTP server on a free local port that keeps every POST it gets (path, headers, body)."""

    def __init__(self, *, status: int = 204, delay: float = 0.0):
        self.posts, self.status, self.delay = [], status, delay
        self._hang = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.posts.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if receiver.delay:
                    receiver._hang.wait(receiver.delay)
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def json(self, i: int = -1) -> dict:
        return json.loads(self.posts[i]["body"])

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._hang.set()
        self.server.shutdown()
        self.server.server_close()


class _Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                              "data": envelope.content.decode("utf-8", "replace")})
        return "250 OK"


@contextlib.contextmanager
def smtp_server():
    """A real SMTP server on a free local port; yields (port, list of received messages)."""
    box = _Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, box.messages
    finally:
        controller.stop()


def closed_port() -> int:
    """A local port nobody listens on (connections are refused at once)."""
    return free_port()


@contextlib.contextmanager
def silent_server():
    """Accepts connections and never answers: a notification server that hangs."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]

"""A fake PostgreSQL server that asks every client for its password in clear text, and keeps what it gets.

It speaks just enough of the protocol: it declines SSL and GSS encryption
('N'), reads the startup message, sends AuthenticationCleartextPassword, keeps
the PasswordMessage that comes back, and ends the session with a FATAL
error. A client that refuses to answer simply hangs up.

Connections that `relay(params)` lets through (params: the startup message's
user, database, application_name ...) are passed to a real server
unchanged, so a job gets past the connections a test does not look at and
shows what its later ones do:

    with FakePostgres(upstream=cluster, relay=lambda p: p["database"] != "into_me") as fake:
        ... point a target at fake.host, fake.port and run the job ...
    assert fake.passwords == []
"""

import select
import socket
import struct
import threading

SSL_REQUEST, GSSENC_REQUEST, CANCEL_REQUEST = 80877103, 80877104, 80877102
AUTH_CLEARTEXT = 3


class FakePostgres:
    def __init__(self, *, upstream=None, relay=lambda params: False):
        self.upstream, self.relay = upstream, relay
        self.passwords: list[str] = []  # what clients sent when asked for their password in clear text
        self.asked: list[dict] = []  # the startup parameters of every connection asked for it
        self.relayed: list[dict] = []
        self.host = "127.0.0.1"
        self._listener = socket.create_server((self.host, 0))
        self.port = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._stopping = False

    def __enter__(self) -> "FakePostgres":
        self._start(self._accept)
        return self

    def __exit__(self, *exc) -> None:
        self._stopping = True
        for thread in self._threads:
            thread.join(timeout=10)
        self._listener.close()

    def _start(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        self._listener.settimeout(0.2)  # so that a stop is noticed
        while not self._stopping:
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(None)
            self._start(self._serve, sock)

    def _serve(self, sock: socket.socket) -> None:
        with sock:
            sock.settimeout(30)
            try:
                raw, code, body = _startup(sock)
            except (OSError, ValueError):
                return
            if code == CANCEL_REQUEST:
                return
            params = _params(body)
            if self.upstream is not None and self.relay(params):
                self.relayed.append(params)
                return self._relay(sock, raw)
            self.asked.append(params)
            self._ask_for_password(sock)

    def _relay(self, client: socket.socket, startup: bytes) -> None:
        """Pass the session to the real server, byte for byte, until either side hangs up (or we stop)."""
        with socket.create_connection((self.upstream.host, self.upstream.port), timeout=30) as server:
            server.sendall(startup)
            ends = {client: server, server: client}
            while not self._stopping:
                readable, _, _ = select.select(list(ends), [], [], 0.2)
                for side in readable:
                    data = side.recv(65536)
                    if not data:
                        return
                    ends[side].sendall(data)

    def _ask_for_password(self, sock: socket.socket) -> None:
        try:
            sock.sendall(b"R" + struct.pack("!ii", 8, AUTH_CLEARTEXT))
            kind, body = _message(sock)
        except (OSError, ValueError):
            return  # the client hung up instead of answering: what a careful client does
        if kind == b"p":
            self.passwords.append(body.rstrip(b"\0").decode("utf-8", "replace"))
        fields = b"SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed\0\0"
        try:
            sock.sendall(b"E" + struct.pack("!i", 4 + len(fields)) + fields)
        except OSError:
            pass


def _exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ValueError("the client hung up")
        data += chunk
    return data


def _startup(sock: socket.socket) -> tuple[bytes, int, bytes]:
    """The startup message (raw, its code, the rest), after declining any encryption request."""
    while True:
        length = struct.unpack("!i", _exactly(sock, 4))[0]
        body = _exactly(sock, length - 4)
        code = struct.unpack("!i", body[:4])[0]
        if code in (SSL_REQUEST, GSSENC_REQUEST):
            sock.sendall(b"N")
            continue
        return struct.pack("!i", length) + body, code, body[4:]


def _params(body: bytes) -> dict:
    words = body.split(b"\0")
    return {k.decode(): v.decode() for k, v in zip(words[0::2], words[1::2], strict=False) if k}


def _message(sock: socket.socket) -> tuple[bytes, bytes]:
    kind = _exactly(sock, 1)
    length = struct.unpack("!i", _exactly(sock, 4))[0]
    return kind, _exactly(sock, length - 4)

"""A TCP proxy in front of a test's storage server that stalls, for good, once a chosen request goes by.

    proxy = StallingProxy(s3_server.port, stall_on=b"partNumber=2")
    ...                         # an upload through proxy.endpoint sends part 1, then hangs on part 2
    proxy.stalled.wait(60)      # the moment: the multipart upload exists, part 2 never arrives
    proxy.release()             # held connections are closed; new ones pass through

stall_after=N stalls once N bytes have gone to the server, over all
connections: the way to catch an encrypted protocol (SFTP) or any store
halfway through an upload larger than N. With drop=True the proxy does not
hold: it closes the connection there, and every new one at once, until
released, as a server that went away mid-upload.

A gate that holds an upload in flight for as long as a test needs, however
fast the machine: nothing depends on timing.
"""

import contextlib
import socket
import threading


class StallingProxy:
    def __init__(self, upstream_port: int, *, stall_on: bytes = b"", stall_after: int = 0, drop: bool = False):
        self.upstream_port, self.stall_on, self.stall_after, self.drop = upstream_port, stall_on, stall_after, drop
        self.sent, self._count = 0, threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.stalled, self.released = threading.Event(), threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def release(self) -> None:
        self.released.set()

    def close(self) -> None:
        self.released.set()
        with contextlib.suppress(OSError):
            self.listener.close()

    def _holding(self) -> bool:
        return self.stalled.is_set() and not self.released.is_set()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        if self.drop and self._holding():
            client.close()
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        except OSError:
            client.close()
            return
        threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()
        self._pump(client, upstream, True)

    def _pump(self, src: socket.socket, dst: socket.socket, watch: bool) -> None:
        tail = b""
        try:
            while data := src.recv(65536):
                if watch and not self.released.is_set():
                    window = tail + data
                    if self.stall_on and self.stall_on in window:
                        self.stalled.set()
                    tail = window[-len(self.stall_on):] if self.stall_on else b""
                    with self._count:
                        self.sent += len(data)
                        if self.stall_after and self.sent >= self.stall_after:
                            self.stalled.set()
                if self._holding():
                    if not self.drop:
                        self.released.wait()  # never forwarded; the connection is dropped once released
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    s.close()

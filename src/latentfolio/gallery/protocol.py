"""uvicorn's h11 protocol with the two limits a server facing a browser needs and uvicorn lacks:

- a connection that has not sent a whole request head within ``HEAD_TIMEOUT`` seconds (from
  its start, or from the end of its last response) is closed, so slow or idle clients cannot
  hold file descriptors (slowloris);
- past ``max_connections()`` open connections a new one is closed at once, so a reserve of
  descriptors stays for the catalog, SQLite, thumbnails and the clients already served.
"""

from __future__ import annotations

import resource

from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_TIMEOUT = 10.0  # s: a browser sends its request head in milliseconds
RESERVE = 128  # descriptors kept free for the server's own files


def raise_file_limit() -> int:
    """Lift this process's soft limit on open files to the hard one -> the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 1 << 16, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def max_connections() -> int:
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return max(16, min(4096, soft - RESERVE))


class LimitedH11(H11Protocol):
    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._heads = 0  # request heads seen on this connection
        self._timer = None
        if len(self.connections) > max_connections():
            transport.close()  # over the cap: refused at once (connection_lost forgets it)
            return
        self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_later(HEAD_TIMEOUT, self._head_timeout, self._heads)

    def _head_timeout(self, heads: int) -> None:
        busy = self.cycle is not None and not self.cycle.response_complete  # a request being served
        if self._heads == heads and not busy and not self.transport.is_closing():
            self.transport.close()

    def handle_events(self) -> None:
        before = self.cycle
        super().handle_events()
        if self.cycle is not None and self.cycle is not before:  # a whole head arrived
            self._heads += 1
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next head, on this kept-alive connection, gets the same time

    def connection_lost(self, exc) -> None:
        if getattr(self, "_timer", None) is not None:
            self._timer.cancel()
        super().connection_lost(exc)

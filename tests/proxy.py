"""A TCP proxy on loopback that can cut the link and deliver what it held late.

During an outage nothing gets through in either direction: bytes from the
client are held (as a gateway or a retransmission queue would hold them),
answers from the server are lost. When the link comes back, the held bytes
reach the server `delay_s` later, even if the client has given up and closed
its connection meanwhile. Every connection keeps a log of what it carried, so
a test can check that a connection with an unanswered request is never reused.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field


@dataclass
class Conn:
    events: list[tuple[str, str]] = field(default_factory=list)  # ("req", line) | ("resp", "")

    def reused_after_unanswered(self) -> bool:
        """Did a request follow one that got no answer on this connection?"""
        unanswered = False
        for kind, _ in self.events:
            if kind == "req":
                if unanswered:
                    return True
                unanswered = True
            else:
                unanswered = False
        return False


class DelayingProxy:
    def __init__(self, upstream_host: str, upstream_port: int):
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.down = False
        self.connections: list[Conn] = []
        self.held_delivered = 0  # held chunks that reached the server late
        self._link_back = asyncio.Event()
        self._link_back.set()
        self._release_at = 0.0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for writer in self._writers:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        await self._server.wait_closed()

    def cut(self) -> None:
        self.down = True
        self._link_back = asyncio.Event()

    def restore(self, delay_s: float) -> None:
        self.down = False
        self._release_at = asyncio.get_running_loop().time() + delay_s
        self._link_back.set()

    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        conn = Conn()
        self.connections.append(conn)
        self._writers.append(cwriter)
        ureader, uwriter = await asyncio.open_connection(*self.upstream)
        self._writers.append(uwriter)
        queue: asyncio.Queue[tuple[bytes | None, asyncio.Event | None]] = asyncio.Queue()
        self._spawn(self._to_server(queue, uwriter))
        self._spawn(self._to_client(ureader, cwriter, conn))
        try:
            while data := await creader.read(1 << 16):
                if data[:8].split(b" ")[0] in (b"GET", b"POST", b"PUT"):
                    conn.events.append(("req", data.split(b"\r\n", 1)[0].decode()))
                queue.put_nowait((data, self._link_back if self.down else None))
        except ConnectionError:
            pass
        queue.put_nowait((None, None))

    async def _to_server(
        self,
        queue: asyncio.Queue[tuple[bytes | None, asyncio.Event | None]],
        uwriter: asyncio.StreamWriter,
    ) -> None:
        while True:
            data, held = await queue.get()
            if held is not None:  # sent during the outage: arrives after the link is back
                await held.wait()
                await asyncio.sleep(max(0.0, self._release_at - asyncio.get_running_loop().time()))
                self.held_delivered += 1
            if data is None:
                break
            uwriter.write(data)
            with contextlib.suppress(ConnectionError):
                await uwriter.drain()
        await asyncio.sleep(1.0)  # let the server answer what arrived last, then hang up
        uwriter.close()

    async def _to_client(
        self, ureader: asyncio.StreamReader, cwriter: asyncio.StreamWriter, conn: Conn
    ) -> None:
        try:
            while data := await ureader.read(1 << 16):
                if self.down or cwriter.is_closing():
                    continue  # lost in the outage, or the client is gone
                conn.events.append(("resp", ""))
                cwriter.write(data)
                with contextlib.suppress(ConnectionError):
                    await cwriter.drain()
        except ConnectionError:
            pass
        cwriter.close()

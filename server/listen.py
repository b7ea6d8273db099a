"""Bind the listening sockets before anything else happens, and say plainly why not.

The emulator takes its port before it touches its database's contents, so a
second instance on a taken port goes away having changed nothing. Binding is
synchronous so the CLI can do it before the TUI draws its first frame.
"""

from __future__ import annotations

import errno
import os
import socket

from .errors import CannotStart

BACKLOG = 128  # as aiohttp's own sites


class PortInUse(CannotStart):
    """The chosen port is taken by another program."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(
            f"port {port} on {host} is already in use; choose another with --port (for example --port {port + 1})"
        )
        self.port = port


def bind_sockets(host: str, port: int) -> list[socket.socket]:
    """Listening sockets for every address ``host`` names (as asyncio's create_server binds them)."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CannotStart(f"cannot listen on host {host!r}: {exc.strerror}; check --host") from None
    sockets: list[socket.socket] = []
    seen: set[tuple[int, str | int]] = set()
    try:
        for family, kind, proto, _, address in infos:
            if (family, address[0]) in seen:
                continue
            seen.add((family, address[0]))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            if os.name == "posix":
                # As asyncio does: a restart must not wait for old connections in TIME_WAIT.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(sockets) > 1:
                address = (address[0], sockets[0].getsockname()[1], *address[2:])  # one port for all
            sock.bind(address)
            sock.listen(BACKLOG)
            sock.setblocking(False)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(host, port) from None
        if exc.errno == errno.EACCES:
            raise CannotStart(f"port {port} needs special privileges; choose one above 1023 with --port") from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise CannotStart(f"{host} is not an address of this machine; check --host") from None
        raise CannotStart(f"cannot listen on {host} port {port}: {exc.strerror}") from None
    return sockets

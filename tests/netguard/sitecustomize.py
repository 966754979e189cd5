"""A network guard for test subprocesses: put this folder on PYTHONPATH and set NETGUARD_LOG=<file>.

Python imports ``sitecustomize`` at start-up. This one installs an audit hook that refuses every
socket connection, name lookup or datagram to anything but loopback or a Unix socket, and appends
each refused attempt to ``$NETGUARD_LOG`` (one line each), so a test can prove the process tried
to reach nothing outside the machine.
"""

import ipaddress
import os
import sys

_LOG = os.environ.get("NETGUARD_LOG")
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


def _is_local(host) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    host = str(host).strip("[]")
    if host in _LOCAL_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _refuse(event: str, target) -> None:
    if _LOG:
        with open(_LOG, "a") as f:
            f.write(f"{event} {target!r}\n")
    raise PermissionError(f"netguard: {event} to {target!r} refused (tests allow loopback only)")


def _hook(event: str, args) -> None:
    if event in ("socket.connect", "socket.sendto"):
        address = args[1] if event == "socket.connect" else args[-1]
        if isinstance(address, tuple) and address and not _is_local(address[0]):
            _refuse(event, address)
    elif event == "socket.getaddrinfo":
        if not _is_local(args[0]):
            _refuse(event, args[0])
    elif event == "socket.gethostbyname" and not _is_local(args[0]):
        _refuse(event, args[0])


if _LOG:
    sys.addaudithook(_hook)

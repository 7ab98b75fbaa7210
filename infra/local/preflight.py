"""Checks that run before anything starts: free ports and free disk space."""
from __future__ import annotations

import shutil
import socket
from pathlib import Path

from functions.store.layout import ALIASES_FILE

from .errors import LocalStackError
from .moto import free_port

# building the default models from scratch (torch export + quantized variants + caches)
MODELS_BUILD_BYTES = 3 * 1024**3
# publishing and serving built models: moto holds copies in memory, the API and worker
# each keep a verified copy in their cache dir
RUN_BYTES = 1 * 1024**3


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # as the servers do: connections of a just-stopped run in TIME_WAIT must not count as "in use"
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def check_ports(ports: dict[str, int], host: str = "127.0.0.1") -> None:
    """Raise LocalStackError naming every port that is taken and how to pick another."""
    taken = [(what, port) for what, port in ports.items() if not port_is_free(port, host)]
    if not taken:
        return
    lines = [f"port {port} on {host} is already in use (needed for the {what})" for what, port in taken]
    hint = ("Stop the program using it (perhaps an earlier `make up`: find it with "
            f"`ss -ltnp 'sport = :{taken[0][1]}'`), or choose other ports, e.g. "
            "`SNLP_LOCAL_API_PORT=8100 SNLP_LOCAL_MOTO_PORT=5100 make up`.")
    raise LocalStackError("\n".join(lines + [hint]))


def _existing_parent(path: Path) -> Path:
    path = path.resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_disk(path: Path, needed_bytes: int, what: str) -> None:
    """Raise LocalStackError when the filesystem holding ``path`` has less than ``needed_bytes`` free."""
    where = _existing_parent(Path(path))
    free = shutil.disk_usage(where).free
    if free < needed_bytes:
        raise LocalStackError(
            f"not enough disk space for {what}: {free / 1024**3:.1f} GB free on the filesystem of {where}, "
            f"about {needed_bytes / 1024**3:.1f} GB needed. Free some space (for example `make clean` "
            "removes the environment and built models) and run it again.")


def models_built(dist: Path, names: tuple[str, ...]) -> bool:
    return all((dist / name / ALIASES_FILE).is_file() for name in names)



__all__ = ["check_ports", "check_disk", "port_is_free", "free_port", "models_built",
           "MODELS_BUILD_BYTES", "RUN_BYTES"]

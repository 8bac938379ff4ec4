"""The dask.distributed scheduler a run uses: its address checked before any work (no dask import),
and a connection that gives up after a short timeout with one line instead of hanging.

Used by prediction (``scheduler=``) and by the study (:mod:`lczmap.study.cluster`).
"""

from __future__ import annotations

import math
import re
from numbers import Real
from typing import TYPE_CHECKING, Any

from ..errors import ClusterError, ConfigError

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "SCHEMES",
    "check_scheduler",
    "check_connect_timeout",
    "connect_scheduler",
    "probe_scheduler",
]

#: Seconds to wait for a dask scheduler before giving up.
DEFAULT_CONNECT_TIMEOUT = 10.0
#: Address schemes of dask.distributed's communication backends.
SCHEMES = ("tcp", "tls", "ws", "wss", "ucx", "inproc")

_HOST_PORT = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):(?P<port>\d{1,5})$")


def check_scheduler(scheduler: Any, option: str = "--scheduler") -> Any:
    """Refuse a scheduler that is neither a dask Client nor an address ``[scheme://]host:port``
    (``scheme`` one of :data:`SCHEMES`, port 1-65535). Returns ``scheduler`` (an address stripped)."""
    if scheduler is None or hasattr(scheduler, "submit"):
        return scheduler
    if not isinstance(scheduler, str):
        raise ConfigError(f"scheduler must be a dask address or Client ({option}), got {type(scheduler).__name__}")
    address = scheduler.strip()
    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "tcp", address
    example = "give an address like tcp://host:8786"
    if scheme not in SCHEMES:
        raise ConfigError(f"{option} {address!r} has an unknown scheme {scheme!r}: use one of {', '.join(SCHEMES)}; {example}")
    if scheme == "inproc":
        return address
    match = _HOST_PORT.match(rest)
    if match is None or not 0 < int(match["port"]) < 65536:
        raise ConfigError(f"{option} {address!r} is not host:port: {example}")
    return address


def check_connect_timeout(seconds: Any, option: str = "--connect-timeout") -> float:
    """A positive, finite number of seconds (``option`` names the CLI option in the message)."""
    if isinstance(seconds, bool) or not isinstance(seconds, Real) or not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"connect_timeout must be a positive number of seconds ({option}), got {seconds!r}")
    return float(seconds)


def connect_scheduler(scheduler: Any, timeout: float = DEFAULT_CONNECT_TIMEOUT) -> Client:
    """A ``distributed.Client`` for ``scheduler`` (an address, or a Client returned as it is);
    :class:`~lczmap.errors.ClusterError` when none answers within ``timeout`` seconds."""
    scheduler = check_scheduler(scheduler)
    if hasattr(scheduler, "submit"):
        return scheduler
    timeout = check_connect_timeout(timeout)
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - distributed is a dependency
        from ..errors import MissingDependencyError

        raise MissingDependencyError("--scheduler needs dask.distributed: pip install distributed") from None
    if not scheduler.startswith("inproc://"):
        probe_scheduler(scheduler, timeout)
    try:
        return Client(scheduler, set_as_default=False, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise _unreachable(scheduler, timeout, exc) from None


def _unreachable(address: str, timeout: float, exc: BaseException) -> ClusterError:
    detail = " ".join(str(exc).split())[:160] or type(exc).__name__
    return ClusterError(
        f"cannot reach the dask scheduler at {address} within {timeout:g} s ({detail}): "
        "check the address, or give it more time with --connect-timeout"
    )


def probe_scheduler(address: str, timeout: float = DEFAULT_CONNECT_TIMEOUT) -> None:
    """Connect to ``address`` and exchange dask's handshake, all within ``timeout`` seconds, then
    hang up; :class:`~lczmap.errors.ClusterError` (one line) when nothing listens there, or when
    what listens is not a dask scheduler: a server that takes the connection and waits (an HTTP
    port such as the dashboard's) or answers in another protocol (whose first bytes dask would
    read as a frame length of exabytes). ``distributed.Client`` waits forever for a handshake."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from distributed.comm import connect

    async def handshake() -> None:
        # connect() retries refused connections until its own timeout and then raises OSError;
        # it is given a little less than the whole, so that a silent server is told apart from
        # an address where nothing answers
        comm = await asyncio.wait_for(connect(address, timeout=0.9 * timeout), timeout)
        await comm.close()

    # in a thread with its own event loop: the caller may be inside one (a notebook)
    with ThreadPoolExecutor(1, thread_name_prefix="lczmap-probe") as pool:
        try:
            pool.submit(asyncio.run, handshake()).result()
        except TimeoutError:
            raise ClusterError(
                f"no dask scheduler answered at {address} within {timeout:g} s: something there took the connection "
                "but did not answer as a dask scheduler (a dashboard or other HTTP port?); give the scheduler's own "
                "address (tcp://host:8786 by default), or more time with --connect-timeout"
            ) from None
        except OSError as exc:
            raise _unreachable(address, timeout, exc) from None
        except Exception as exc:  # a reply in another protocol: MemoryError, ValueError, msgpack's errors
            detail = " ".join(str(exc).split())[:120] or type(exc).__name__
            raise ClusterError(
                f"the server at {address} is not a dask scheduler (its reply could not be read: {detail}): give the "
                "scheduler's own address (tcp://host:8786 by default)"
            ) from None

"""HTTP for lczmap: GDAL's remote reads (``/vsicurl/``, ``/vsis3/``, ``/vsiaz/``) set up once,
their failures as one line, credentials from where the ecosystem keeps them, and a resumable,
checked download.

Remote rasters are read by GDAL with HTTP range requests: only the tiles a window touches (and
the header) are fetched. :func:`configure_gdal` sets GDAL's retry options (5xx, 429 and
timeouts retried with a doubling delay) where the user has not set them. Credentials:

- ``~/.netrc`` (or ``$NETRC``; Earthdata and any host): GDAL reads it itself
  (``GDAL_HTTP_NETRC``); :func:`download` sends its login to the matching host as Basic auth.
- Amazon S3 (``s3://``; CDSE's S3 endpoint): GDAL's usual ``AWS_*`` environment.
- Planetary Computer SAS tokens: asked of the ``planetary-computer`` package when it is
  installed, given to GDAL through its ``/vsiaz/`` options, never put into a path (so never into
  a tag, log, checkpoint or footprint).

Nothing here prints; :func:`redact` is the one way an address is shown (query and password
dropped)."""

from __future__ import annotations

import hashlib
import http.client
import logging
import netrc
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .._io import atomic_path, check_output
from ..errors import RemoteError

__all__ = [
    "GDAL_DEFAULTS",
    "configure_gdal",
    "is_remote",
    "gdal_path",
    "redact",
    "read_error",
    "read_failure",
    "http_status",
    "http_url",
    "Progress",
    "download",
    "md5_of",
    "netrc_auth",
    "RETRY_STATUS",
]

log = logging.getLogger(__name__)

#: GDAL options lczmap sets for remote reads when the user has not set them (environment wins).
#: GDAL retries 429/500/502/503/504 and timeouts GDAL_HTTP_MAX_RETRY times, doubling the delay.
GDAL_DEFAULTS: Mapping[str, str] = {
    "GDAL_HTTP_MAX_RETRY": "5",
    "GDAL_HTTP_RETRY_DELAY": "1",
    "GDAL_HTTP_CONNECTTIMEOUT": "20",
    "GDAL_HTTP_TIMEOUT": "120",
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",  # no listing of the folder: one request fewer per file
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.TIF,.TIFF,.vrt,.ovr,.xml,.json",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    # The tiles of a window one range after another through /vsicurl/'s cache (16 KB chunks, kept
    # across opens of the file in this process): the centre sample that two scene checks read is
    # fetched once. GDAL's default (PARALLEL) keeps the bytes per open only, and fetched it twice.
    "GDAL_HTTP_MULTIRANGE": "SERIAL",
    "VSI_CACHE": "TRUE",
}

#: HTTP statuses a download retries (with a doubling delay); others end at once.
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})

_SCHEMES = ("http", "https", "s3", "gs")
_PC_HOST = ".blob.core.windows.net"
_configured = False


def configure_gdal() -> None:
    """Set :data:`GDAL_DEFAULTS` in the environment where unset (once per process). GDAL reads its
    options from the environment on every request, and dask workers started afterwards inherit
    them."""
    global _configured
    if _configured:
        return
    for key, value in GDAL_DEFAULTS.items():
        os.environ.setdefault(key, value)
    netrc_file = os.environ.get("NETRC")
    if netrc_file:
        os.environ.setdefault("GDAL_HTTP_NETRC_FILE", netrc_file)
    _configured = True


def is_remote(path: str) -> bool:
    """Whether ``path`` is an address (``scheme://``) or a GDAL virtual path (``/vsi...``)."""
    return "://" in path or path.startswith("/vsi")


def redact(url: str) -> str:
    """``url`` without its query (SAS tokens, signatures) and without a password: for messages."""
    if "://" not in url:
        return url.split("?", 1)[0] if url.startswith("/vsi") else url
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def gdal_path(href: str) -> str:
    """The path GDAL opens for an asset ``href`` (GDAL's options for remote reads set first):
    local paths, ``/vsi...`` paths and ``http(s)``/``s3``/``gs`` addresses unchanged (rasterio
    reads an address through ``/vsicurl/``, ``/vsis3/``, ``/vsigs/``); a Planetary Computer blob
    (``https://ACCOUNT.blob.core.windows.net/CONTAINER/...``) as ``/vsiaz/CONTAINER/...`` with a
    SAS token from the ``planetary-computer`` package in GDAL's options, when that package is
    installed (without it, the address is read unsigned and the Planetary Computer answers 403:
    :func:`read_error` says what to install). Another scheme is refused."""
    if not is_remote(href) or href.startswith("/vsi"):
        return href
    configure_gdal()
    scheme = href.split("://", 1)[0].lower()
    if scheme not in _SCHEMES:
        raise RemoteError(f"cannot read {redact(href)}: lczmap reads http(s)://, s3:// and gs:// addresses and local files")
    parts = urllib.parse.urlsplit(href)
    if scheme == "https" and (parts.hostname or "").endswith(_PC_HOST) and planetary_token(href) is not None:
        container, _, blob = parts.path.lstrip("/").partition("/")
        return f"/vsiaz/{container}/{blob}"
    return href


def planetary_token(href: str, refresh: bool = False) -> str | None:
    """Give GDAL a SAS token for the Planetary Computer blob ``href`` (``AZURE_STORAGE_ACCOUNT``,
    ``AZURE_STORAGE_SAS_TOKEN``), asked of the ``planetary-computer`` package (which caches it
    until it expires; ``refresh`` asks again); None when the package is not installed. The token
    lives in the environment of this process and its workers only."""
    try:
        from planetary_computer.sas import get_token
    except ImportError:
        return None
    parts = urllib.parse.urlsplit(href)
    account = (parts.hostname or "").split(".", 1)[0]
    container = parts.path.lstrip("/").split("/", 1)[0]
    current = os.environ.get("AZURE_STORAGE_ACCOUNT")
    if current and current != account:
        raise RemoteError(
            f"{redact(href)} is in storage account {account} but this process reads account {current}: "
            "map the items of one Planetary Computer collection at a time"
        )
    try:
        token = get_token(account, container).token
    except Exception as exc:  # the package raises requests' errors
        raise RemoteError(
            f"the Planetary Computer gave no SAS token for {account}/{container} ({type(exc).__name__}): retry later"
        ) from None
    if refresh or os.environ.get("AZURE_STORAGE_SAS_TOKEN") != token:
        os.environ["AZURE_STORAGE_ACCOUNT"] = account
        os.environ["AZURE_STORAGE_SAS_TOKEN"] = token
    return token


def read_error(path: str, exc: BaseException, probe: bool = True) -> RemoteError | None:
    """The one-line error for GDAL's failure ``exc`` to read the remote ``path``, or None when the
    failure is not an HTTP one (the caller's own message then applies). GDAL names the HTTP status
    when a file cannot be opened; when a tile read fails it says only that the tile could not be
    read, so (``probe``) the address is then asked once for its first byte (:func:`http_status`)
    and the answer named: 401/403/404 and 5xx in one line, an address that answers in full means
    the failure was not HTTP's."""
    texts = [str(e) for e in _chain(exc)]
    shown = redact(path.removeprefix("/vsicurl/"))
    for code in (401, 403, 404):
        if any(f"HTTP response code: {code}" in t or f"HTTP error code: {code}" in t for t in texts):
            return _status_error(path, shown, code)
    lowered = " ".join(texts).lower()
    words = (
        "http response code",
        "http error code",
        "timed out",
        "timeout",
        "couldn't connect",
        "could not connect",
        "curl error",
    )
    if any(w in lowered for w in words):
        first = next((t.splitlines()[0] for t in texts if t), type(exc).__name__)
        return RemoteError(
            f"cannot read {shown} ({redact(first)}) after {os.environ.get('GDAL_HTTP_MAX_RETRY', '0')} retries: "
            "check the connection and retry later"
        )
    if not probe or not is_remote(path):
        return None
    status = http_status(path)
    if status is None or status in (200, 206):
        return None
    if status in (401, 403, 404):
        return _status_error(path, shown, status)
    if status == 0:
        return RemoteError(f"cannot reach the server of {shown}: check the connection and retry later; a rerun resumes")
    return RemoteError(
        f"the server of {shown} answered HTTP {status} after {os.environ.get('GDAL_HTTP_MAX_RETRY', '0')} retries: "
        "retry later; a rerun resumes"
    )


def read_failure(paths: Iterable[str], exc: BaseException) -> RemoteError | None:
    """:func:`read_error` for a failure ``exc`` while reading a scene made of ``paths``: the
    remote paths GDAL's words name are tried first, then every remote path (a tile read names
    only the file's base name). None when no remote path explains it."""
    remote = [p for p in paths if is_remote(p)]
    if not remote:
        return None
    text = " ".join(str(e) for e in _chain(exc))
    named = [p for p in remote if os.path.basename(p.split("?", 1)[0]) in text]
    for p in named + [p for p in remote if p not in named]:
        err = read_error(p, exc)
        if err is not None:
            return err
    return None


def _status_error(path: str, shown: str, code: int) -> RemoteError:
    why = {401: "needs credentials (401)", 403: "refused access (403)", 404: "does not exist (404)"}[code]
    hint = _auth_hint(path) if code in (401, 403) else "check the address (the item's href)"
    return RemoteError(f"the server of {shown} {why}: {hint}")


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and all(cur is not e for e in seen):
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


def http_url(path: str) -> str | None:
    """The http(s) address GDAL reads for ``path`` (``/vsicurl/`` stripped; a ``/vsiaz/`` path
    with the storage account and SAS token GDAL was given), or None for a path that is not read
    over http(s) (``/vsis3/``, ``s3://``, a local file)."""
    if path.startswith("/vsicurl/"):
        path = path.removeprefix("/vsicurl/")
    if path.startswith("/vsiaz/"):
        account = os.environ.get("AZURE_STORAGE_ACCOUNT")
        if not account:
            return None
        token = os.environ.get("AZURE_STORAGE_SAS_TOKEN", "")
        return f"https://{account}.blob.core.windows.net/{path.removeprefix('/vsiaz/')}" + (f"?{token}" if token else "")
    return path if path.split("://", 1)[0].lower() in ("http", "https") else None


def http_status(path: str, timeout: float = 20.0) -> int | None:
    """The HTTP status the server of ``path`` answers to a request for its first byte (with the
    netrc login for its host); 0 when it cannot be reached; None for a path not read over
    http(s)."""
    url = http_url(path)
    if url is None:
        return None
    req = urllib.request.Request(url, headers={"User-Agent": "lczmap", "Range": "bytes=0-0"})
    auth = netrc_auth(url)
    if auth is not None:
        req.add_header("Authorization", _basic(auth))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            resp.read(1)
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)
    except (OSError, http.client.HTTPException):
        return 0


def _basic(auth: tuple[str, str]) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()


def _auth_hint(path: str) -> str:
    if _PC_HOST in path or path.startswith("/vsiaz/"):
        return (
            "Planetary Computer assets need a SAS token: pip install planetary-computer (lczmap then signs them), "
            "or run again if the token expired"
        )
    if path.startswith("/vsis3/") or path.startswith("s3://"):
        return (
            "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (and AWS_S3_ENDPOINT for CDSE), "
            "or AWS_NO_SIGN_REQUEST=YES for public buckets"
        )
    return "put the host's login in ~/.netrc (Earthdata: urs.earthdata.nasa.gov), or check that it has not expired"


# ------------------------------------------------------------------ credentials


def netrc_auth(url: str) -> tuple[str, str] | None:
    """The (login, password) ``~/.netrc`` (or ``$NETRC``) holds for ``url``'s host, else None. A
    netrc that cannot be parsed is an error that names the file, not its contents."""
    host = urllib.parse.urlsplit(url).hostname
    path = os.environ.get("NETRC") or os.path.join(os.path.expanduser("~"), ".netrc")
    if not host or not os.path.isfile(path):
        return None
    try:
        found = netrc.netrc(path).authenticators(host)
    except (netrc.NetrcParseError, OSError) as exc:
        line = getattr(exc, "lineno", None)
        raise RemoteError(f"cannot read {path}{f' (line {line})' if line else ''}: fix the netrc file") from None
    if found is None:
        return None
    login, _, password = found
    return login, password or ""


# ------------------------------------------------------------------ downloads


#: Download progress: called with (bytes so far, total bytes or None).
Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class _Reply:
    status: int
    total: int | None  # the whole file's size when the server said it


def md5_of(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """The MD5 hex digest of a file, read in chunks."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _request(url: str, start: int, timeout: float) -> urllib.request.Request:
    req = urllib.request.Request(url, headers={"User-Agent": "lczmap", "Accept-Encoding": "identity"})
    if start:
        req.add_header("Range", f"bytes={start}-")
    auth = netrc_auth(url)
    if auth is not None:
        req.add_header("Authorization", _basic(auth))
    return req


def _total(resp: http.client.HTTPResponse, start: int) -> int | None:
    crange = resp.headers.get("Content-Range", "")
    if resp.status == 206 and "/" in crange:
        size = crange.rsplit("/", 1)[1]
        return int(size) if size.isdigit() else None
    length = resp.headers.get("Content-Length")
    return int(length) if length and length.isdigit() and resp.status == 200 else None


def _fetch_once(url: str, part: Path, timeout: float, progress: Progress | None) -> _Reply:
    """One request for the rest of ``url`` appended to ``part`` (restarted when the server
    ignores the range). Raises urllib's errors and :class:`http.client.IncompleteRead` on a short
    body; what arrived stays in ``part`` for the next try."""
    start = part.stat().st_size if part.exists() else 0
    try:
        resp = urllib.request.urlopen(_request(url, start, timeout), timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()  # the error holds the connection's socket
        if exc.code == 416 and start:  # the partial file is as long as the file (or longer)
            return _Reply(416, None)
        raise
    with resp:
        total = _total(resp, start)
        if resp.status == 200 and start:
            log.info("%s: the server ignored the range request; starting again", redact(url))
            start = 0
        expected = resp.headers.get("Content-Length")
        got = 0
        with open(part, "ab" if start else "wb") as f:
            while block := resp.read(1 << 16):
                f.write(block)
                got += len(block)
                if progress is not None:
                    progress(start + got, total)
            f.flush()
            os.fsync(f.fileno())
        if expected and expected.isdigit() and got < int(expected):
            raise http.client.IncompleteRead(b"", int(expected) - got)
    return _Reply(resp.status, total)


def download(
    url: str,
    dest: str | os.PathLike[str],
    md5: str,
    *,
    retries: int = 5,
    delay: float = 1.0,
    timeout: float = 60.0,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Path:
    """Download ``url`` to ``dest`` and check its MD5 against ``md5``.

    An existing ``dest`` whose MD5 matches is kept (nothing fetched); one that does not match is
    fetched again, never trusted. The bytes arrive in ``.<name>.download`` beside ``dest``; an
    interrupted run leaves that file and the next run resumes it with an HTTP ``Range`` request
    (starting over when the server ignores ranges). 5xx, 429, timeouts and short bodies are
    retried ``retries`` times with a doubling ``delay``; 401/403/404 end at once. Only a whole
    file whose MD5 matches is renamed onto ``dest`` (:func:`~lczmap._io.atomic_path`); a complete
    download with another MD5 is deleted and fetched once more from the start, then refused.
    Raises :class:`~lczmap.errors.RemoteError` (one line; the address shown without its query)."""
    dest = Path(dest)
    want = md5.strip().lower()
    if dest.is_file():
        if md5_of(dest) == want:
            log.info("%s is whole (MD5 %s)", dest, want)
            return dest
        log.warning("%s does not match its MD5: fetching it again", dest)
    check_output(dest, overwrite=True)
    part = dest.with_name(f".{dest.name}.download")
    for fresh in (False, True):
        if fresh:
            part.unlink(missing_ok=True)
        _fetch_all(url, part, retries, delay, timeout, progress, sleep)
        if md5_of(part) == want:
            with atomic_path(dest, overwrite=True) as tmp:
                os.replace(part, tmp)
            return dest
        log.warning("%s: the download does not match MD5 %s; fetching it again from the start", redact(url), want)
    part.unlink(missing_ok=True)
    raise RemoteError(
        f"{redact(url)} does not match the published MD5 {want} (twice, from the start): the server "
        "or mirror serves another file; try another --mirror"
    )


def _fetch_all(
    url: str, part: Path, retries: int, delay: float, timeout: float, progress: Progress | None, sleep: Callable[[float], None]
) -> None:
    wait = delay
    for attempt in range(retries + 1):
        try:
            _fetch_once(url, part, timeout, progress)
            return
        except urllib.error.HTTPError as exc:
            if exc.code not in RETRY_STATUS or attempt == retries:
                if part.exists() and part.stat().st_size == 0:
                    part.unlink()
                raise _http_error(url, exc.code, attempt) from None
            why = f"HTTP {exc.code}"
        except (TimeoutError, urllib.error.URLError, http.client.HTTPException, ConnectionError) as exc:
            if attempt == retries:
                reason = getattr(exc, "reason", None) or type(exc).__name__
                raise RemoteError(
                    f"cannot download {redact(url)} ({reason}) after {retries} retries: check the connection or the "
                    "address; run again to resume"
                ) from None
            why = type(exc).__name__
        log.info("%s: %s; retrying in %gs", redact(url), why, wait)
        sleep(wait)
        wait *= 2


def _http_error(url: str, code: int, attempt: int) -> RemoteError:
    match code:
        case 401 | 403:
            return RemoteError(f"{redact(url)} refused access ({code}): {_auth_hint(url)}")
        case 404:
            return RemoteError(f"{redact(url)} does not exist (404): check the address or --mirror")
    tries = f" after {attempt} retries" if attempt else ""
    return RemoteError(f"{redact(url)} answered HTTP {code}{tries}: retry later; a rerun resumes")

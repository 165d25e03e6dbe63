"""Download a file with a timeout, verify its SHA-256, and move it into place atomically.

Nothing here runs unless a loader found no local copy. Set GENLAB_OFFLINE=1 to forbid the network.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.request
from pathlib import Path

from genlab.data.base import DataError

TIMEOUT_S = 10.0  # per socket operation: a machine without network fails fast
_CHUNK = 1 << 20


def network_allowed() -> bool:
    """False when the environment variable GENLAB_OFFLINE is set to 1/true/yes."""
    return os.environ.get("GENLAB_OFFLINE", "").strip().lower() not in ("1", "true", "yes")


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _open_url(url: str, timeout: float):
    """urlopen with a User-Agent (some mirrors refuse Python's default); tests replace this function."""
    request = urllib.request.Request(url, headers={"User-Agent": "genlab"})
    return urllib.request.urlopen(request, timeout=timeout)


def download(url: str, dest: str | Path, sha256: str, *, timeout: float = TIMEOUT_S) -> Path:
    """Fetch `url` to `dest` via a temp file in the same folder; rename only if the SHA-256 matches.

    Args:
        url: http(s) address.
        dest: final file path; its folder is created.
        sha256: expected lowercase hex digest.
        timeout: seconds per socket operation.
    Raises:
        OSError (incl. URLError) or http.client.HTTPException when the transfer fails; DataError when the
        checksum differs.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, _open_url(url, timeout) as response:
            while chunk := response.read(_CHUNK):
                h.update(chunk)
                out.write(chunk)
        if h.hexdigest() != sha256.lower():
            raise DataError(f"{url}: SHA-256 {h.hexdigest()} does not match the expected {sha256}")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def download_any(urls: list[str], dest: str | Path, sha256: str, *, timeout: float = TIMEOUT_S) -> Path:
    """Try each mirror in turn; return the verified file or raise DataError listing every failure.

    Args:
        urls: mirrors of the same file, best first.
        dest: final file path.
        sha256: expected hex digest.
        timeout: seconds per socket operation.
    """
    if not network_allowed():
        raise DataError("downloads are disabled (GENLAB_OFFLINE is set)")
    failures = []
    for url in urls:
        try:
            return download(url, dest, sha256, timeout=timeout)
        except (OSError, http.client.HTTPException, ValueError) as e:  # ValueError includes DataError
            failures.append(f"{url}: {e}")
    raise DataError("download failed: " + "; ".join(failures))

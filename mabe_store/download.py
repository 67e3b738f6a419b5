"""`mabe-store download`: the competition's files into data/raw, through the official `kaggle` client.

The client (the `mabe[kaggle]` extra, >= 1.8.3 for access tokens) decides which credentials to
use, in its own order: an access token (`KAGGLE_API_TOKEN`, ~/.kaggle/access_token[.txt]), then
a legacy key (kaggle.json in KAGGLE_CONFIG_DIR, ~/.kaggle or ~/.config/kaggle, with
KAGGLE_USERNAME/KAGGLE_KEY overriding the file), then OAuth (`kaggle auth login`,
~/.kaggle/credentials.json). We do not pre-check (a copy of that order would refuse an OAuth
user); `has_credentials` only words the message when the client gives up. The client prints help
and exits when it cannot authenticate, so it is imported lazily with its output swallowed (it may
echo config). Credentials are read by the client only: nothing here prints, logs or copies them.
The server's reason for a refused download is in the HTTP response body, not in `str(e)`, so the
body's message goes into the one-line error (401 key, 403 rules or verification, 404 slug), as
do network errors and a full disk. Files already unpacked (same name and size as in the archive)
are not extracted again, and a directory that already holds the whole layout is not downloaded again.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import zipfile
from pathlib import Path

from mabe_store.errors import MabeStoreError, require
from mabe_store.log import Log, say

COMPETITION = "MABe-mouse-behavior-detection"
LAYOUT = ("train.csv", "test.csv", "sample_submission.csv", "train_tracking", "train_annotation",
          "test_tracking")
HOW = ("no Kaggle credentials — create an API token at kaggle.com > Settings > API and set "
       "KAGGLE_API_TOKEN or save it to ~/.kaggle/access_token (or use kaggle.json in ~/.kaggle/, "
       "KAGGLE_USERNAME + KAGGLE_KEY, or `kaggle auth login`), and accept the competition rules")


class DownloadError(MabeStoreError):
    """The download could not run; the message is one line saying what to do."""


def _config_dirs(env: dict) -> list[Path]:
    home = Path(env.get("HOME") or Path.home())
    if env.get("KAGGLE_CONFIG_DIR"):
        return [Path(env["KAGGLE_CONFIG_DIR"])]
    xdg = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    return [home / ".kaggle", xdg / "kaggle"]


def has_credentials(env: dict | None = None) -> bool:
    """Whether any source the client reads holds something (never what): access token (env,
    ~/.kaggle/access_token[.txt]), kaggle.json in the client's config folder, username + key
    variables, OAuth credentials. Used only to word the message when the client refuses."""
    env = os.environ if env is None else env
    if env.get("KAGGLE_API_TOKEN") or (env.get("KAGGLE_USERNAME") and env.get("KAGGLE_KEY")):
        return True
    home = Path(env.get("HOME") or Path.home())
    files = [home / ".kaggle" / n for n in ("access_token", "access_token.txt", "credentials.json")]
    files += [d / n for d in _config_dirs(env) for n in ("kaggle.json", "access_token")]
    return any(f.is_file() for f in files)


def complete(out: Path) -> bool:
    return all((out / name).exists() for name in LAYOUT)


def _api():
    """An authenticated KaggleApi; the client's own printing is swallowed (it may echo config)."""
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            # the client, or a package it imports without declaring (six): MissingExtra naming it
            client = require("kaggle.api.kaggle_api_extended", extra="kaggle", feature="downloading the data")
            api = client.KaggleApi()
            api.authenticate()
    except MabeStoreError:
        raise
    except (Exception, SystemExit):
        if not has_credentials():
            raise DownloadError(HOW) from None
        raise DownloadError("Kaggle rejected the credentials — create a new API token at kaggle.com > "
                            "Settings > API (KAGGLE_API_TOKEN or ~/.kaggle/access_token)") from None
    return api


def server_message(response) -> str:
    """The server's own reason from an HTTP error response body (JSON `message`, else the text),
    one line, at most 200 characters."""
    if response is None:
        return ""
    try:
        text = response.text or ""
    except Exception:  # noqa: BLE001 — an undecodable body says nothing
        return ""
    with contextlib.suppress(ValueError, AttributeError):
        body = json.loads(text)
        text = str(body.get("message") or body.get("error") or text) if isinstance(body, dict) else text
    return " ".join(text.split())[:200]


def explain(e: BaseException, competition: str) -> str:
    """One line per failure kind of a download: HTTP status, network, full disk, anything else."""
    response = getattr(e, "response", None)
    status = getattr(response, "status_code", None)
    said = server_message(response)
    said = f" (Kaggle says: {said})" if said else ""
    rules = f"https://www.kaggle.com/competitions/{competition}/rules"
    if status == 401:
        return f"Kaggle refused the credentials (401){said} — the token or key is wrong or expired; create a new one at kaggle.com > Settings > API"
    if status == 403:
        return f"Kaggle refused the download (403){said} — accept the rules at {rules} (and verify your account by phone if asked)"
    if status == 404:
        return f"no competition {competition!r} on Kaggle (404){said} — check the slug"
    if status is not None:
        return f"Kaggle answered HTTP {status}{said} — retry later"
    if isinstance(e, OSError) and e.errno == errno.ENOSPC:
        return "the disk is full — free space (the archive is ~3 GB and unpacks to about as much again) and retry"
    names = {c.__name__ for c in type(e).__mro__}
    if names & {"ConnectionError", "Timeout", "ConnectTimeout", "ReadTimeout", "ProtocolError", "SSLError"}:
        return f"cannot reach Kaggle ({type(e).__name__}) — check the network connection and retry"
    return f"download failed ({type(e).__name__}) — retry; if it persists, download from {rules.rsplit('/', 1)[0]}/data"


def extract(archive: Path, out: Path) -> tuple[int, int]:
    """Unpack members missing or of another size in `out`; returns (extracted, skipped)."""
    done = kept = 0
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            target = out / info.filename
            if info.is_dir() or (target.is_file() and target.stat().st_size == info.file_size):
                kept += not info.is_dir()
                continue
            zf.extract(info, out)
            done += 1
    return done, kept


def download(out: str | Path, *, competition: str = COMPETITION, log: Log = say) -> Path:
    """Download and unpack the competition into `out`, skipping what is already there."""
    out = Path(out)
    if complete(out):
        log(f"{out} already holds the competition files — nothing to download")
        return out
    api = _api()
    out.mkdir(parents=True, exist_ok=True)
    log(f"downloading {competition} into {out} (about 3 GB; an interrupted download resumes)")
    try:
        api.competition_download_files(competition, path=str(out), quiet=False)
    except Exception as e:  # noqa: BLE001 — every failure is one line (see explain)
        raise DownloadError(explain(e, competition)) from None
    archive = out / f"{competition}.zip"
    if not archive.is_file():
        raise DownloadError(f"the client reported success but {archive} is missing — rerun the download")
    try:
        done, kept = extract(archive, out)
    except zipfile.BadZipFile:
        archive.unlink()
        raise DownloadError(f"{archive.name} was corrupt and has been removed — rerun the download") from None
    except OSError as e:
        raise DownloadError(explain(e, competition)) from None
    archive.unlink()
    log(f"unpacked {done} files ({kept} already there) into {out}")
    return out

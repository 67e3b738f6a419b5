"""`mabe-store download`: the competition's files into data/raw, through the official `kaggle` client.

`kaggle` authenticates the moment it is imported (and prints help or exits when it cannot), so it is
imported lazily and only after we have found credentials ourselves; without them the user gets one
line on how to provide them. Credentials are read by the client only: nothing here prints, logs or
copies them. Files already unpacked (same name and size as in the archive) are not extracted again,
and a directory that already holds the whole layout is not downloaded again.
"""

from __future__ import annotations

import contextlib
import io
import os
import zipfile
from pathlib import Path

from mabe_store.errors import MabeStoreError

COMPETITION = "MABe-mouse-behavior-detection"
LAYOUT = ("train.csv", "test.csv", "sample_submission.csv", "train_tracking", "train_annotation",
          "test_tracking")
HOW = ("no Kaggle credentials — put kaggle.json (from kaggle.com > Settings > API) in ~/.kaggle/ "
       "(chmod 600), or set KAGGLE_USERNAME and KAGGLE_KEY, and accept the competition rules")


class DownloadError(MabeStoreError):
    """The download could not run; the message is one line saying what to do."""


def has_credentials(env: dict | None = None) -> bool:
    env = os.environ if env is None else env
    if (env.get("KAGGLE_USERNAME") and env.get("KAGGLE_KEY")) or env.get("KAGGLE_API_TOKEN"):
        return True
    config_dir = Path(env.get("KAGGLE_CONFIG_DIR") or Path.home() / ".kaggle")
    return (config_dir / "kaggle.json").is_file() or (config_dir / "access_token").is_file()


def complete(out: Path) -> bool:
    return all((out / name).exists() for name in LAYOUT)


def _api():
    """An authenticated KaggleApi; the client's own printing is swallowed (it may echo config)."""
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            from kaggle.api.kaggle_api_extended import KaggleApi
            api = KaggleApi()
            api.authenticate()
    except (Exception, SystemExit):
        raise DownloadError("Kaggle rejected the credentials — check ~/.kaggle/kaggle.json or "
                            "KAGGLE_USERNAME/KAGGLE_KEY (a fresh token from kaggle.com > Settings > API)") from None
    return api


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


def download(out: str | Path, *, competition: str = COMPETITION, log=print) -> Path:
    """Download and unpack the competition into `out`, skipping what is already there."""
    out = Path(out)
    if complete(out):
        log(f"{out} already holds the competition files — nothing to download")
        return out
    if not has_credentials():
        raise DownloadError(HOW)
    api = _api()
    out.mkdir(parents=True, exist_ok=True)
    log(f"downloading {competition} into {out} (about 3 GB; an interrupted download resumes)")
    try:
        api.competition_download_files(competition, path=str(out), quiet=False)
    except Exception as e:  # HTTP errors: 403 = rules not accepted, 404 = wrong slug
        raise DownloadError(f"download failed ({type(e).__name__}: {str(e)[:120]}) — accept the rules at "
                            f"https://www.kaggle.com/competitions/{competition}/rules and retry") from None
    archive = out / f"{competition}.zip"
    if not archive.is_file():
        raise DownloadError(f"the client reported success but {archive} is missing — rerun the download")
    try:
        done, kept = extract(archive, out)
    except zipfile.BadZipFile:
        archive.unlink()
        raise DownloadError(f"{archive.name} was corrupt and has been removed — rerun the download") from None
    archive.unlink()
    log(f"unpacked {done} files ({kept} already there) into {out}")
    return out

"""The one error boundary of every `mabe-train` command: a domain error is one line and exit 1.

Library code raises `MabeTrainError` (mabe_train) or `MabeStoreError` (mabe_store); an OSError
at this boundary is a path the user pointed somewhere unusable. Anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

from contextlib import contextmanager

import typer

from mabe_store.errors import MabeStoreError
from mabe_train import MabeTrainError


@contextmanager
def one_line_errors():
    try:
        yield
    except (MabeTrainError, MabeStoreError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    except OSError as e:
        where = f" {e.filename}" if e.filename else ""
        typer.echo(f"error: cannot use{where}: {e.strerror or e} — pick a writable path", err=True)
        raise typer.Exit(1) from None

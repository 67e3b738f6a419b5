"""The one error boundary of both command lines (`mabe-store` and `mabe-train`).

Library code raises its package's domain exception (`MabeStoreError`, `MabeTrainError`) or, for an
optional dependency, `errors.MissingExtra` (a `MabeStoreError`); an OSError reaching the boundary is
a path the user pointed somewhere unusable. Each becomes one line `error: ...` on stderr and exit
code 1 (`raise typer.Exit(1) from None`, no traceback). Anything else is a bug and keeps its
traceback. It lives in mabe_store because mabe_train may import mabe_store, never the reverse; the
train CLI adds its own domain exception through `domain=`.

`BoundaryTyper` wraps every command registered on it, sub-apps included, so a command cannot be
added outside the boundary (the Modal commands import Modal inside it: a missing extra is one line).
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import Annotated

import typer

from mabe_store.errors import MabeStoreError

# Options both CLIs take, declared once (each command gives its own default).
StoreOpt = Annotated[str, typer.Option("--store", help="the Zarr store: a directory, or an s3://, gs:// or "
                                                       "memory:// URL (see --storage-option)")]
OptionsOpt = Annotated[list[str] | None, typer.Option(
    "--storage-option", help="KEY=VALUE fsspec storage option of a store URL, repeatable "
                             "(e.g. endpoint_url=http://127.0.0.1:9000, anon=true); never printed or written")]


def fail(message: str) -> None:
    """One line `error: message` on stderr, exit code 1."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1) from None


@contextmanager
def one_line_errors(domain: tuple[type[BaseException], ...] = ()):
    """Domain errors (MabeStoreError and `domain`) and OSError as one line and exit 1."""
    try:
        yield
    except (MabeStoreError, *domain) as e:
        fail(str(e))
    except OSError as e:
        where = f" {e.filename}" if e.filename else ""
        fail(f"cannot use{where}: {e.strerror or e} — pick a writable path")


class BoundaryTyper(typer.Typer):
    """A Typer app whose every command runs inside `one_line_errors(domain)`."""

    def __init__(self, *args, domain: tuple[type[BaseException], ...] = (), **kwargs):
        kwargs.setdefault("no_args_is_help", True)
        kwargs.setdefault("add_completion", False)
        kwargs.setdefault("pretty_exceptions_enable", False)
        super().__init__(*args, **kwargs)
        self.domain = domain

    def command(self, *args, **kwargs):
        register = super().command(*args, **kwargs)

        def wrap(fn):
            @functools.wraps(fn)
            def bounded(*a, **kw):
                with one_line_errors(self.domain):
                    return fn(*a, **kw)
            register(bounded)
            return fn
        return wrap

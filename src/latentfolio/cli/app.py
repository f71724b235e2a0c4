"""The typer app, its shared options and helpers, and ``main`` (one-line errors, exit status 2)."""

from __future__ import annotations

import json
import sys
import unicodedata
import warnings
import typer

from ..errors import ArgumentError, LatentfolioError
from ..version import __version__

app = typer.Typer(
    name="latentfolio", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="Learn a compact latent space for an image collection, then compress, organize, clean "
         "and create with it.")

def _version(value: bool) -> None:
    if value:
        typer.echo(f"latentfolio {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Learn a compact latent space for an image collection, then compress, organize, clean and
    create with it."""


JSON = typer.Option(False, "--json", help="Print machine-readable JSON on stdout.")
FORCE = typer.Option(False, "--force", help="Overwrite existing outputs.")


def seed_option(help: str = "Random seed: the same seed gives the same result."):
    return typer.Option(0, "--seed", min=0, max=2**32 - 1, help=help)  # numpy's seed range


SEED = seed_option()


def model_arg(help: str = "A model folder."):
    return typer.Argument(..., help=help)


def inputs_arg(help: str = "Image files or folders."):
    return typer.Argument(..., help=help)


def out_option(help: str, required: bool = True):
    """``--out``/``-o``, the output of every command that writes one."""
    return typer.Option(... if required else None, "--out", "-o", help=help)
DATA_ROOT = typer.Option(None, "--data-root", help="Where named datasets live "
                         "(default: $LATENTFOLIO_DATA, else the user cache dir).")


def _emit(obj, as_json: bool, human=None) -> None:
    if as_json:
        typer.echo(json.dumps(obj, indent=2, default=str))
    elif human is not None:
        human(obj)


def _wrote(key: str = "out"):
    return lambda r: typer.echo(f"wrote {r[key]}")


def _console():
    from rich.console import Console

    # soft_wrap: a long line (a path, a summary) stays one line when piped, where rich would
    # otherwise break it at 80 columns; tables still fit the width.
    return Console(soft_wrap=True)


def _parse_value(v: str):
    low = v.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if "," in v:
        return tuple(_parse_value(p) for p in v.split(",") if p)
    for t in (int, float):
        try:
            return t(v)
        except ValueError:
            pass
    return v


def _model_options(items: list[str]) -> dict:
    out = {}
    for it in items or []:
        if "=" not in it:
            raise LatentfolioError(f"--set {it!r}: expected KEY=VALUE, e.g. --set widths=16,32")
        k, v = it.split("=", 1)
        val = _parse_value(v)
        out[k.strip().replace("-", "_")] = (val,) if k.strip() in ("widths", "hidden") and not isinstance(val, tuple) else val
    return out


def one_line(text) -> str:
    """``text`` as one line that prints as it reads: a newline, an escape sequence or another
    control character (a hostile file name can hold any of them) is shown as its escape, ``\\x1b``."""
    return "".join(c.encode("unicode_escape").decode("ascii") if unicodedata.category(c) in ("Cc", "Zl", "Zp")
                   else c for c in str(text))


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {one_line(message)}", file=sys.stderr)


def _flag_for(arg: str) -> str:
    """The flag the user typed for a library argument: the invoked command's option whose
    parameter has that name (``k`` -> ``--k``, ``span`` -> ``--range``, ``out`` -> ``--catalog``)."""
    from typer.main import get_command

    group = get_command(app)
    name = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    cmd = group.commands.get(name) if name else None
    for p in getattr(cmd, "params", []):
        if p.name == arg and getattr(p, "opts", None):
            return max(p.opts, key=len) if p.param_type_name == "option" else p.human_readable_name
    return "--" + arg.replace("_", "-")


def _usage(e) -> None:
    """Click's usage errors (a missing argument, a value of the wrong type) as one line too."""
    if type(e).__name__ == "NoArgsIsHelpError":  # bare `latentfolio`: the help, as click shows it
        e.show()
        sys.exit(e.exit_code)
    where = f"{e.ctx.command_path}: " if getattr(e, "ctx", None) is not None else ""
    hint = " (see --help)" if getattr(e, "ctx", None) is not None else ""
    print("error: " + one_line(f"{where}{e.format_message()}{hint}".replace("\n", " ")), file=sys.stderr)
    sys.exit(e.exit_code)


def main() -> None:
    warnings.showwarning = _show_warning
    try:
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except typer.Abort:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except ArgumentError as e:
        print(f"error: {one_line(e.for_flag(_flag_for(e.arg)))}", file=sys.stderr)
        sys.exit(2)
    except LatentfolioError as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        sys.exit(2)
    except OSError as e:  # the last line of defence: a full disk, a permission, a vanished file
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        print(f"error: {one_line(f'{where}{e.strerror or e}')}", file=sys.stderr)
        sys.exit(2)
    except MemoryError:
        print("error: out of memory (try a smaller --batch-size or smaller images)", file=sys.stderr)
        sys.exit(2)
    except RecursionError:
        print("error: an input is nested too deep to read", file=sys.stderr)
        sys.exit(2)
    except Exception as e:  # click's usage errors, sqlite3.DatabaseError: still one line each
        import sqlite3

        if hasattr(e, "format_message") and hasattr(e, "exit_code"):  # click's, vendored by typer
            _usage(e)
        if isinstance(e, sqlite3.DatabaseError):
            print(f"error: a catalog database is damaged ({one_line(e)})", file=sys.stderr)
            sys.exit(2)
        raise
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)

"""The exceptions a user can act on.

The CLI prints ``error: <message>`` for these and exits with status 2, never a traceback.
Messages name the file (or argument) and the problem, on one line.
"""


class LatentfolioError(Exception):
    """A user-facing error: bad input file, wrong model, bad argument value, missing data."""


class ArgumentError(LatentfolioError):
    """A bad value for one of a library function's own arguments.

    The library names the argument as Python spells it (``k=0: must be at least 1``); the CLI
    names the flag the user typed (``--k 0: must be at least 1``), with :meth:`for_flag`.
    """

    def __init__(self, arg: str, value, problem: str):
        self.arg, self.value, self.problem = arg, value, problem
        super().__init__(f"{arg}={value!r}: {problem}" if value is not None else f"{arg}: {problem}")

    def for_flag(self, flag: str) -> str:
        if self.value is None:
            return f"{flag}: {self.problem}"
        shown = repr(self.value) if isinstance(self.value, str) else self.value
        return f"{flag} {shown}: {self.problem}"

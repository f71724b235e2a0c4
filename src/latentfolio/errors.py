"""One exception type for every problem a user can fix.

The CLI prints ``error: <message>`` for these and exits with status 2, never a traceback.
Messages name the file (or flag) and the problem, on one line.
"""


class LatentfolioError(Exception):
    """A user-facing error: bad input file, wrong model, bad flag value, missing data."""

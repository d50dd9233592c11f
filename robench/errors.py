"""The one base class of user-facing errors: the CLI prints them as one line and exits 2."""


class RobenchError(ValueError):
    """Bad input or bad data that the user can fix (names, ranges, checkpoints, stores)."""

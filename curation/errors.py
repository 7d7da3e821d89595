"""Errors that map to the documented exit codes of `curate`."""

EXIT_OK = 0
EXIT_DATA = 1  # data or verification failure
EXIT_USAGE = 2  # bad config or command line
EXIT_LOCKED = 3  # another run holds the release lock
EXIT_INTERRUPTED = 4  # killed / Ctrl-C; rerun with --resume
EXIT_IO = 6  # the disk said no (full, read-only, permission): nothing published; fix it and rerun with --resume
EXIT_ALERTS = 5  # published, but with alerts (a source read nothing, a step dropped nearly everything): look before using it


class CurateError(Exception):
    exit_code = EXIT_DATA


class ConfigError(CurateError):
    """A job config that cannot be run; raised before any work starts."""

    exit_code = EXIT_USAGE


class ReleaseExistsError(CurateError):
    exit_code = EXIT_USAGE


class LockedError(CurateError):
    exit_code = EXIT_LOCKED


class UsageError(CurateError):
    exit_code = EXIT_USAGE

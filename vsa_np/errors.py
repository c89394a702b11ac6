"""Errors that reach the user as one clear line (the CLI prints them and exits with code 2)."""


class UserError(Exception):
    """Bad input from the user: a file, a folder, a flag. The message names the file and the
    problem."""


class DataError(UserError):
    """A data file is missing, malformed, or inconsistent with the others."""


class TrainingError(RuntimeError):
    """Training cannot go on (a NaN/inf loss, say); the last good checkpoint is kept."""


class BackendError(UserError):
    """The device asked for ($VSA_NP_DEVICE) cannot be used (raised when `vsa_np.backend` is
    first imported; defined here so that the CLI can catch it without importing the backend)."""


class Interrupted(Exception):
    """Stopped by Ctrl-C or SIGTERM after undoing what was started (the CLI exits with 130)."""


class ResourceError(Exception):
    """Out of disk space or memory, after undoing what was started (the CLI exits with 1). The
    message names the file."""

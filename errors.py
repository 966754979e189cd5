"""The base of every error whose message is written for the person using the app."""


class AppError(Exception):
    """An error the user can act on: its message says what is wrong, where, and what to do.

    The page and the command line show ``str(error)`` as it is; anything that is not an
    ``AppError`` is a bug and is logged with its traceback.
    """

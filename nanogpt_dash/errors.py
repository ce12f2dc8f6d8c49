"""The package's one base exception."""


class NanogptDashError(Exception):
    """Base class of every error nanogpt_dash raises on purpose."""

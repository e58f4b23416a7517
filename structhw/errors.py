"""Exceptions for bad user input.

Every stage raises :class:`ConfigError` (a ``ValueError``) when the input it was given cannot be
honoured: the message names the layer or parameter and the violated constraint. The CLI turns it
into one line on stderr and exit code 2.
"""


class ConfigError(ValueError):
    """Bad input: a message naming what is wrong and why, meant for the user as it is."""


class ResourceError(ConfigError):
    """A design does not fit a resource budget; the message names each short resource and by how
    much."""

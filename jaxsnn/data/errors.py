"""Errors raised when a dataset on disk is absent or unreadable.

They subclass the built-in exceptions a caller would already catch (``FileNotFoundError``,
``ValueError``) so generic handlers keep working, and share ``DatasetError`` so a trial runner can
tell "the data is not there" from a bug in the model.
"""

from __future__ import annotations


class DatasetError(Exception):
    """Base of every data-loading error of jaxsnn."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """An expected file or folder of a local dataset does not exist.

    The message names the expected path and where the data can be obtained: jaxsnn never
    downloads, so the user has to put it there.
    """


class DatasetCorruptError(DatasetError, ValueError):
    """A dataset file exists but cannot be parsed in its documented format."""

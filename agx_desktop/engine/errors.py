"""Typed errors of the engine: each carries a one-line message that says what to do.

The CLI prints ``str(error)`` and exits with status 2; the app shows it in a dialog.
"""


class AgxError(Exception):
    """Base class of every error the engine raises on purpose (bad input, missing files...)."""


class PromptError(AgxError, ValueError):
    """The prompt is empty or longer than the text encoder accepts."""


class DurationError(AgxError, ValueError):
    """The requested duration is not in (0, model maximum]."""


class ParameterError(AgxError, ValueError):
    """A generation or explanation parameter is out of range."""


class UnknownModelError(AgxError, KeyError):
    """The model id is neither registered nor a local checkpoint folder."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ModelUnavailableError(AgxError, RuntimeError):
    """A known model cannot be loaded now (e.g. weights not cached and no network)."""


class CheckpointError(AgxError, RuntimeError):
    """A checkpoint folder or weights file is missing or corrupt."""


class IntervalError(AgxError, ValueError):
    """An interval lies outside the clip or has start >= end."""


class NotATakeError(AgxError, FileNotFoundError):
    """A folder is not a take folder (no take.json / audio.wav) or is corrupt."""


class ModelMismatchError(AgxError, ValueError):
    """A take was made by a different model than the one asked to explain or regenerate it."""


class UnknownMethodError(AgxError, KeyError):
    """The explanation method name is not registered."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class OutputPathError(AgxError, ValueError):
    """``--out`` (or a save target) is not a place where a take may be written or replaced."""


class TakeBusyError(AgxError, RuntimeError):
    """Another process is writing the same take folder right now."""


class ExplanationError(AgxError, ValueError):
    """An explanation is missing, corrupt, or belongs to another take."""


class StorageError(AgxError, OSError):
    """The disk refused a write (full, read-only, permission denied); nothing was half-written."""


class Cancelled(AgxError):
    """The job was cancelled through its :class:`~agx_desktop.engine.progress.CancelToken`."""

"""Errors of the Lava side; all are :class:`lava_convdelay.errors.UserError`s.

Unknown layer types and options Lava / Loihi 2 cannot express raise
:class:`netx_export.errors.UnsupportedLayerError`, and a spec that breaks the
format's rules :class:`netx_export.errors.InvalidSpecError` (the classes the
file reader and the spec's own check use), so a caller catches one class
whether the problem was found while reading the file or while building the
Lava network.
"""
from lava_convdelay.errors import UserError
from netx_export.errors import InvalidSpecError, UnsupportedLayerError

__all__ = ["InvalidSpecError", "UnsupportedLayerError", "InputSpikesError", "BackendUnavailableError",
           "ScheduleError", "ChipFallbackError", "ChipCompileError", "CalibrationError", "ArchiveError"]


class InputSpikesError(UserError, ValueError):
    """Input spikes of the wrong shape or not 0/1."""


class BackendUnavailableError(UserError):
    """The requested Lava backend is not installed here."""


class ScheduleError(UserError, ValueError):
    """A between-sample schedule that hardware cannot execute or that cannot
    hold the samples (period not a power of 2, too short)."""


class _WithModelTable(UserError):
    """``table``: the preflight's model table, printed before the one-line error."""

    def __init__(self, message: str, table: str = ""):
        super().__init__(message)
        self.table = table


class ChipFallbackError(_WithModelTable):
    """The preflight found chip-side processes that the run configuration
    mapped onto a CPU (or otherwise non-chip) process model."""


class ChipCompileError(_WithModelTable):
    """Lava could not compile a graph for the backend (the table as far as
    Lava got)."""


class CalibrationError(UserError):
    """The backend's adapters or voltage probe returned data that matches
    the expected calibration pattern at no step offset (the raw data are
    saved where the message says)."""


class ArchiveError(UserError, ValueError):
    """A self-test archive that is not what ``loihi2-selftest`` writes."""

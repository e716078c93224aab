"""User-facing errors: each message names the file or setting at fault and the fix."""


class SerauditError(Exception):
    """Base class: the CLI prints these as one clean line and exits with status 2."""


class AudioError(SerauditError, ValueError):
    """An audio file that cannot be used (unreadable, empty, silent, non-finite, too short)."""


class CorpusError(SerauditError, ValueError):
    """A corpus folder or manifest that does not follow the expected layout."""


class WeightsError(SerauditError, FileNotFoundError):
    """Pretrained weights that are missing, corrupt, or of the wrong layout."""


class RunError(SerauditError, ValueError):
    """A run directory (trained model) that is missing, incomplete or inconsistent."""


class DownloadError(SerauditError, OSError):
    """A download that failed (network, HTTP status, truncated transfer, checksum, full disk)."""

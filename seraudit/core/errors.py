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


class StorageError(SerauditError, OSError):
    """A write that the file system refused (disk full, read-only, no permission); nothing half-written is left."""


# Exit status of every command that works through a batch of files (predict, embed, explain, train,
# audit-all, report): one contract, so scripts can tell "all done" from "done, some files failed".
EXIT_OK = 0  # every file was used
EXIT_NOTHING_DONE = 2  # nothing could be done (a usage error, a bad run folder, or no usable file at all)
EXIT_SOME_FAILED = 3  # the outputs are written, but some files failed; they are listed and saved with the outputs


def batch_status(done: int, failed: int) -> int:
    """The exit status of a batch that used `done` files and could not use `failed` ones."""
    if done == 0:
        return EXIT_NOTHING_DONE
    return EXIT_SOME_FAILED if failed else EXIT_OK

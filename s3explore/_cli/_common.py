"""What every ``s3explore`` command shares: exit codes and the error users can fix."""

from __future__ import annotations

EXIT_OK, EXIT_DIFFERENCES, EXIT_ERROR = 0, 1, 2


class CommandError(Exception):
    """A problem the user can fix; printed without a traceback."""

"""Every exit code the `allora-worker` process can end with, in one place.

docs/OPERATIONS.md says what each means for an operator.

Supervisors act on them: systemd's RestartPreventExitStatus and the deploy examples treat a bad
config (2) and a failed pre-flight (3) as "do not restart until a human fixes it".
"""

from __future__ import annotations

EXIT_OK = 0
# An unexpected error; for `data` and `model` commands, a data or model problem (download,
# import, a bundle that does not load, training that fails).
EXIT_UNEXPECTED = 1
EXIT_DATA = 1
EXIT_CONFIG = 2
# A file given on the command line cannot be used: a usage error, like a bad flag.
EXIT_BAD_INPUT = 2
EXIT_PREFLIGHT = 3
# `journal check` / `journal recover`: the journal is not sound, not this wallet's, or in use by a
# running daemon: what the daemon itself refuses to start on.
EXIT_JOURNAL = EXIT_PREFLIGHT
# `run --once` or an end time reached with nothing accepted.
EXIT_NOTHING_SUBMITTED = 4
# Ctrl-C (128 + SIGINT), as a shell reports it.
EXIT_INTERRUPTED = 130

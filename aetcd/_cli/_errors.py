"""Exit codes and the error a command raises to stop with a message.

The codes are etcdctl's (`pkg/cobrautl`), so scripts written against etcdctl can tell
failures apart the same way; Ctrl-C exits with 130 like any shell command.
"""

from __future__ import annotations

__all__ = [
    "EXIT_BAD_ARGS",
    "EXIT_BAD_CONNECTION",
    "EXIT_BAD_FEATURE",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_INVALID_INPUT",
    "EXIT_KEYBOARD_INTERRUPT",
    "CommandError",
    "UsageError",
]

EXIT_ERROR = 1
EXIT_BAD_CONNECTION = 2
EXIT_INVALID_INPUT = 3  # unparsable txn or watch input
EXIT_BAD_FEATURE = 4  # a valid flag with an unsupported value
EXIT_INTERRUPTED = 5  # e.g. a watch cancelled by the server
EXIT_BAD_ARGS = 128
EXIT_KEYBOARD_INTERRUPT = 130


class CommandError(Exception):
    """Stop the command: print `Error: <message>` on stderr and exit with `code`."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class UsageError(CommandError):
    """Bad flags or arguments (exit 128, like etcdctl's ExitBadArgs)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_BAD_ARGS)

"""One exception hierarchy. The CLI maps `Ssd2NcnnError` to exit code 2 (bad input or tool failure)
and `CheckFailed` / `FilesFailed` to exit code 1; anything else is a bug and shows its traceback."""

from __future__ import annotations


class Ssd2NcnnError(Exception):
    """A problem the user can fix. The message says what was expected, what was found, and what to do."""

    exit_code = 2


class InputError(Ssd2NcnnError):
    """Bad user input: a missing or malformed file, a wrong option value."""


class CheckpointError(InputError):
    """A checkpoint that cannot be loaded safely or does not fit the model."""


class ParamError(InputError):
    """A malformed ncnn .param file; `line` is 1-based where known."""

    def __init__(self, message: str, line: int | None = None, path: str | None = None):
        where = ""
        if path is not None and line is not None:
            where = f"{path}:{line}: "
        elif line is not None:
            where = f"line {line}: "
        elif path is not None:
            where = f"{path}: "
        super().__init__(where + message)
        self.line = line
        self.path = path


class ToolError(Ssd2NcnnError):
    """An external tool (exporter, onnx-simplifier, pnnx, ncnn) failed. Carries its stderr tail and the
    command that reproduces it."""

    def __init__(self, message: str, command: str | None = None, stderr_tail: str | None = None):
        parts = [message]
        if stderr_tail:
            parts.append("stderr (tail): " + stderr_tail.strip().replace("\n", " | "))
        if command:
            parts.append("reproduce with: " + command)
        super().__init__("; ".join(parts))
        self.command = command
        self.stderr_tail = stderr_tail


class CheckFailed(Ssd2NcnnError):
    """A check ran and found a problem (verify out of tolerance, lint findings): exit code 1."""

    exit_code = 1


class FilesFailed(Ssd2NcnnError):
    """A batch (detect, quantize --calib) processed every file it could, but some could not be read or
    written; each was reported on its own line: exit code 1."""

    exit_code = 1

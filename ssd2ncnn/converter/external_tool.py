"""Running external tools: in a temporary folder, never raising a bare CalledProcessError; a failure
becomes a `ToolError` carrying the stderr tail and the command that reproduces it."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

from ..errors import ToolError


def find_tool(name: str, install_hint: str) -> str:
    """The tool's path: `$SSD2NCNN_<NAME>` when set (e.g. a pnnx you built yourself), else PATH, else
    beside the running interpreter (a virtualenv that is not activated)."""
    override = os.environ.get(f"SSD2NCNN_{name.upper()}")
    if override:
        if not (Path(override).is_file() and os.access(override, os.X_OK)):
            raise ToolError(f"SSD2NCNN_{name.upper()}={override} is not an executable file; fix or unset it")
        return override
    path = shutil.which(name)
    if path is None:
        # The console script may sit beside the running interpreter without being on PATH (venv not activated).
        import sys

        candidate = Path(sys.executable).parent / name
        if candidate.exists():
            path = str(candidate)
    if path is None:
        raise ToolError(f"{name} was not found on PATH; install it with `{install_hint}`")
    return path


def run_tool(args: list[str], cwd: Path, what: str, timeout: float = 600) -> subprocess.CompletedProcess:
    command = f"cd {shlex.quote(str(cwd))} && " + " ".join(shlex.quote(a) for a in args)
    try:
        proc = subprocess.run(args, cwd=cwd, check=False, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise ToolError(f"{what} did not finish in {timeout:.0f} s", command=command) from exc
    except OSError as exc:
        raise ToolError(f"{what} could not be started ({exc})", command=command) from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout or "").strip().splitlines()[-6:])
        raise ToolError(f"{what} failed with exit code {proc.returncode}", command=command, stderr_tail=tail)
    return proc

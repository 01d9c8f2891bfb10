"""Where a model came from, read from git: the repository, commit, dirty flag and script.

``git_provenance`` asks the ``git`` command about the repository holding the training script
(or the working directory). Anything it cannot learn is left empty: no git installed, no
repository, no commit yet or no remote is never an error, since provenance is a record, not a
requirement. Credentials in the remote URL (``https://user:token@host/...``) are removed
before the URL goes anywhere.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from modelyard.domain.entities import Provenance

GIT_TIMEOUT_S = 10


def _git(repo: Path, *args: str) -> str | None:
    """``git args`` in ``repo``: its stripped output, or None when it fails."""
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def strip_credentials(url: str) -> str:
    """``url`` without a password or token.

    HTTP(S) URLs lose their whole user part (a token often stands alone there:
    ``https://ghp_xxx@github.com/...``); other schemes (``ssh://git:pw@host``) keep the user
    name but lose the password. scp-like addresses (``git@github.com:org/repo.git``) carry no
    secret and stay as they are.
    """
    parts = urlsplit(url)
    if not parts.scheme or "@" not in parts.netloc:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    if parts.scheme in ("http", "https"):
        netloc = host
    else:
        user = userinfo.partition(":")[0]
        netloc = f"{user}@{host}" if user else host
    return urlunsplit(parts._replace(netloc=netloc))


def main_script() -> Path | None:
    """The file run as ``__main__`` (``python train.py``), when there is one."""
    main = sys.modules.get("__main__")
    file = getattr(main, "__file__", None)
    return Path(file).resolve() if file else None


def git_provenance(script: str | Path | None = None, *, cwd: Path | None = None) -> Provenance:
    """The provenance of work done in the repository holding ``script`` (else ``cwd``, by
    default the working directory).

    ``script`` defaults to the ``__main__`` file when that lies inside the repository and is
    not ignored by git (so a ``.venv/bin/pytest`` inside the tree does not count). The
    recorded script path is relative to the repository root. ``dirty`` is true when tracked
    files differ from the commit; untracked files do not count (the bundle being written is
    often one of them).
    """
    start = Path(script).resolve().parent if script is not None else (cwd or Path.cwd())
    root_out = _git(start, "rev-parse", "--show-toplevel")
    if not root_out:
        return Provenance()
    root = Path(root_out).resolve()
    candidate = Path(script).resolve() if script is not None else main_script()
    relative = None
    if candidate is not None and candidate.is_relative_to(root):
        ignored = _git(root, "check-ignore", "--quiet", "--", str(candidate)) is not None
        if script is not None or not ignored:
            relative = candidate.relative_to(root).as_posix()
    remote = _git(root, "config", "--get", "remote.origin.url")
    commit = _git(root, "rev-parse", "--verify", "--quiet", "HEAD")
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    return Provenance(
        repo=strip_credentials(remote) if remote else None,
        commit=commit or None,
        dirty=None if status is None else bool(status),
        script=relative,
    )

"""Provenance from real git repositories made in a temporary directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from modelyard.domain.entities import Provenance
from modelyard.runtime.provenance import git_provenance, strip_credentials


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository with one commit holding ``train/train.py``."""
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(name, raising=False)
    root = tmp_path / "project"
    (root / "train").mkdir(parents=True)
    (root / "train" / "train.py").write_text("print('training')\n")
    git(root, "init", "--quiet", "--initial-branch=main")
    git(root, "add", "train/train.py")
    git(root, "commit", "--quiet", "-m", "first")
    return root


def test_clean_repository(repo: Path) -> None:
    found = git_provenance(repo / "train" / "train.py")
    assert found == Provenance(
        repo=None, commit=git(repo, "rev-parse", "HEAD"), dirty=False, script="train/train.py"
    )


def test_changed_tracked_file_is_dirty_but_untracked_files_are_not(repo: Path) -> None:
    (repo / "bundle").mkdir()
    (repo / "bundle" / "model.joblib").write_bytes(b"untracked output")
    assert git_provenance(repo / "train" / "train.py").dirty is False
    (repo / "train" / "train.py").write_text("print('changed')\n")
    assert git_provenance(repo / "train" / "train.py").dirty is True


def test_remote_url_is_recorded_without_credentials(repo: Path) -> None:
    git(repo, "remote", "add", "origin", "https://alice:s3cret@git.example.com/team/churn.git")
    found = git_provenance(repo / "train" / "train.py")
    assert found.repo == "https://git.example.com/team/churn.git"
    assert "s3cret" not in found.model_dump_json()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://ghp_token@github.com/o/r.git", "https://github.com/o/r.git"),
        ("http://u:p@127.0.0.1:3000/o/r", "http://127.0.0.1:3000/o/r"),
        ("ssh://git:pw@host.example/o/r.git", "ssh://git@host.example/o/r.git"),
        ("git@github.com:o/r.git", "git@github.com:o/r.git"),
        ("https://github.com/o/r.git", "https://github.com/o/r.git"),
        ("/srv/git/r.git", "/srv/git/r.git"),
    ],
)
def test_strip_credentials(url: str, expected: str) -> None:
    assert strip_credentials(url) == expected


def test_working_directory_and_main_script(
    repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without a script: the working directory's repository, and the ``__main__`` file when
    it is a (not ignored) file of it."""
    monkeypatch.chdir(repo / "train")
    main = type("Main", (), {"__file__": str(repo / "train" / "train.py")})
    monkeypatch.setitem(sys.modules, "__main__", main)
    found = git_provenance()
    assert (found.commit, found.script) == (git(repo, "rev-parse", "HEAD"), "train/train.py")

    (repo / ".gitignore").write_text(".venv/\n")
    (repo / ".venv" / "bin").mkdir(parents=True)
    (repo / ".venv" / "bin" / "pytest").write_text("")
    main.__file__ = str(repo / ".venv" / "bin" / "pytest")
    assert git_provenance().script is None

    main.__file__ = str(tmp_path / "elsewhere.py")
    assert git_provenance().script is None


def test_repository_without_commits(tmp_path: Path) -> None:
    git(tmp_path, "init", "--quiet")
    (tmp_path / "train.py").write_text("")
    found = git_provenance(tmp_path / "train.py")
    assert (found.commit, found.dirty, found.script) == (None, False, "train.py")


def test_outside_a_repository_is_empty(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("")
    assert git_provenance(tmp_path / "train.py") == Provenance()
    assert git_provenance(cwd=tmp_path) == Provenance()


def test_without_git_installed_is_empty(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(repo / "no-such-bin"))
    assert git_provenance(repo / "train" / "train.py") == Provenance()

"""Where the handler's module is found: `[workers] pythonpath` (and a pool's), the
directories put at the front of sys.path before the handler is imported, and the hint
a handler whose package is nowhere on the path gets. The real `qwsup check` on both is
in tests/test_cli.py."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from qwsup.config import parse
from qwsup.errors import ConfigError, HandlerError
from qwsup.worker.runner import load_handler

pytestmark = pytest.mark.unit


@pytest.fixture
def import_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """sys.path as it was, and no module a test imported left behind."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        del sys.modules[name]


def package(root: Path, name: str, jobs: str) -> Path:
    """root/name/jobs.py holding `jobs`."""
    (root / name).mkdir(parents=True)
    (root / name / "__init__.py").write_text("")
    (root / name / "jobs.py").write_text(jobs)
    return root


def test_pythonpath_is_a_list_of_directories_taken_from_the_config_files_own(
    tmp_path: Path,
) -> None:
    (tmp_path / "conf" / "app").mkdir(parents=True)
    (tmp_path / "lib").mkdir()
    path = str(tmp_path / "conf" / "c.toml")
    config = parse(path, f'[workers]\npythonpath = ["app", "../lib", "{tmp_path}"]')
    expected = (str(tmp_path / "conf" / "app"), str(tmp_path / "lib"), str(tmp_path))
    assert config.workers.pythonpath == expected
    assert parse(path, "").workers.pythonpath == ()


def test_each_pool_has_its_own_pythonpath(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    text = '[[pools]]\nname = "a"\npythonpath = ["a"]\n[[pools]]\nname = "b"\n'
    config = parse(str(tmp_path / "c.toml"), text)
    assert [p.pythonpath for p in config.pools] == [(str(tmp_path / "a"),), ()]
    with pytest.raises(ConfigError) as caught:
        parse(str(tmp_path / "c.toml"), text + 'pythonpath = ["b"]\n')
    assert caught.value.key == "pools[1].pythonpath"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('"app"', "must be a list of strings, got str 'app'"),
        ("[1]", "must be a list of strings, got list [1]"),
        ('["app", " "]', "must not hold an empty directory"),
        ('["app", "gone"]', "no such directory: {dir}/gone (gone, relative to {dir})"),
        ('["/nonexistent/app"]', "no such directory: /nonexistent/app"),
    ],
)
def test_a_bad_pythonpath_names_the_key(tmp_path: Path, value: str, problem: str) -> None:
    (tmp_path / "app").mkdir()
    with pytest.raises(ConfigError) as caught:
        parse(str(tmp_path / "c.toml"), f"[workers]\npythonpath = {value}")
    assert caught.value.key == "workers.pythonpath"
    assert caught.value.problem == problem.format(dir=tmp_path)


def test_a_handler_whose_package_is_nowhere_on_the_path_is_told_how_to_put_it_there() -> None:
    with pytest.raises(HandlerError) as caught:
        load_handler("qw_nowhere.jobs:send_mail")
    python = sys.executable
    assert str(caught.value) == (
        "cannot import qw_nowhere.jobs: ModuleNotFoundError: No module named 'qw_nowhere'; "
        f"no directory on the import path of {python} holds qw_nowhere: put the "
        "application's directory (the one holding qw_nowhere) on PYTHONPATH, install the "
        f"application into this environment ({python} -m pip install -e /path/to/app), "
        'or set pythonpath = ["/path/to/app"] in [workers] (or in the pool\'s [[pools]] '
        "table)"
    )


@pytest.mark.usefixtures("import_state")
def test_the_hint_says_which_pythonpath_was_searched(tmp_path: Path) -> None:
    with pytest.raises(HandlerError, match=rf"\(with pythonpath {tmp_path}\) holds qw_absent:"):
        load_handler("qw_absent.jobs:run", pythonpath=(str(tmp_path),))


@pytest.mark.usefixtures("import_state")
def test_no_hint_when_the_package_is_found_but_something_it_imports_is_not(
    tmp_path: Path,
) -> None:
    """The path is right then: the hint would send the reader the wrong way."""
    root = package(tmp_path, "qw_found", "import qw_missing_dependency\n")
    with pytest.raises(HandlerError) as caught:
        load_handler("qw_found.jobs:run", pythonpath=(str(root),))
    assert str(caught.value) == (
        "cannot import qw_found.jobs: ModuleNotFoundError: No module named 'qw_missing_dependency'"
    )
    with pytest.raises(HandlerError) as caught:
        load_handler("qw_found.nojobs:run", pythonpath=(str(root),))
    assert "PYTHONPATH" not in str(caught.value)


@pytest.mark.usefixtures("import_state")
def test_pythonpath_leads_sys_path_in_its_order_and_the_handler_imports(tmp_path: Path) -> None:
    first = package(tmp_path / "first", "qw_app", "def run(job_id, data):\n    return 1\n")
    second = package(tmp_path / "second", "qw_app", "def run(job_id, data):\n    return 2\n")
    rest = list(sys.path)
    handler = load_handler("qw_app.jobs:run", pythonpath=(str(first), str(second)))
    assert handler("j1", {}) == 1  # the first directory wins
    assert sys.path == [str(first), str(second), *rest]
    load_handler("qw_app.jobs:run", pythonpath=(str(first), str(second)))
    assert sys.path == [str(first), str(second), *rest]  # not put there twice

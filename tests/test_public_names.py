"""Every module of the proxy lists its public names in `__all__` (a package: its modules), and
every name listed exists."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import proxy

# Being reworked with issues 11, 18 and 19; they get their `__all__` with that work (remove a
# module from here when it has one: the test below insists).
PENDING: set[str] = set()
MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(proxy.__path__, "proxy.")
    if not m.name.endswith("__main__")  # importing it runs the CLI
)


@pytest.mark.parametrize("name", MODULES)
def test_public_names_are_listed_and_exist(name: str) -> None:
    module = importlib.import_module(name)
    listed = getattr(module, "__all__", None)
    if name in PENDING:
        assert listed is None, f"{name} has __all__ now: take it off PENDING"
        return
    assert listed, f"{name} lists no public names"
    assert len(set(listed)) == len(listed)
    for public in listed:
        if not hasattr(module, public):  # a package's module, not imported yet
            importlib.import_module(f"{name}.{public}")
        assert hasattr(module, public), f"{name}.__all__ names {public!r}, which is not there"

"""``__all__`` is what the package namespace holds, and nothing else (httpx's guard).

A public name imported into ``s3explore`` or ``s3explore.widgets`` without being exported,
or exported without being there, fails here: the export list maintains itself against the
imports instead of a second list kept by hand.
"""

from __future__ import annotations
import __future__

import types

import pytest

import s3explore
import s3explore.widgets

INCLUDED_PRIVATE = {"__version__"}


def public_members(module: types.ModuleType) -> set[str]:
    return {name for name, value in vars(module).items()
            if (not name.startswith("_") or name in INCLUDED_PRIVATE)
            and not isinstance(value, (types.ModuleType, __future__._Feature))}


@pytest.mark.parametrize("module", [s3explore, s3explore.widgets], ids=lambda m: m.__name__)
def test_all_is_exactly_the_public_namespace(module):
    exported = list(module.__all__)
    assert len(exported) == len(set(exported)), "a name is exported twice"
    assert set(exported) == public_members(module)


@pytest.mark.parametrize("module", [s3explore, s3explore.widgets], ids=lambda m: m.__name__)
def test_exported_members_name_their_home_module_for_help(module):
    """Classes and functions come from the package's own private modules, so help() and
    tracebacks point to code in this package."""
    for name in module.__all__:
        value = getattr(module, name)
        if isinstance(value, (type, types.FunctionType)):
            assert value.__module__.startswith("s3explore"), (name, value.__module__)

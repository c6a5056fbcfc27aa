"""The examples in the identity modules' docstrings run and give what they say."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "profilo.identity.graph",
    "profilo.identity.resolve",
    "profilo.identity.merges",
    "profilo.identity.evaluate",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0 and result.attempted > 0

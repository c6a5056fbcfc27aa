"""Profilo: an open-source Customer Data Platform.

Collect every source, unify people across them, segment, and activate — with consent.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"

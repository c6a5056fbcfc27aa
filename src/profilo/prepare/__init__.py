"""Prepare: raw customer values to clean, typed, validated ones, a column at a time on Arrow.

>>> import pyarrow as pa
>>> from profilo.prepare import normalise
>>> normalise("phone", pa.array(["06 12 34 56 78"]), default_country="FR").value.to_pylist()
['+33612345678']
"""

from profilo.prepare.normalise import VALUE_KINDS, Normalised, match_key, normalise

__all__ = ["VALUE_KINDS", "Normalised", "match_key", "normalise"]

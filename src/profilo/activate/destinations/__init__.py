"""Destinations: one folder per kind (``<kind>/``), each registering itself in :mod:`.base`."""

from __future__ import annotations

from profilo.activate.destinations.base import (
    PURPOSES,
    Change,
    DeliveryError,
    Destination,
    ItemFailure,
    Outcome,
    TableDestination,
    destination_kinds,
    make_destination,
    register,
)

__all__ = [
    "PURPOSES",
    "Change",
    "DeliveryError",
    "Destination",
    "ItemFailure",
    "Outcome",
    "TableDestination",
    "destination_kinds",
    "make_destination",
    "register",
]

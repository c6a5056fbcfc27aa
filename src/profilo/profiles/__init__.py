"""Profiles: each person's events, consents and computed traits, and the 360° view of them."""

from profilo.profiles.catalogue import Catalogue, read_catalogue
from profilo.profiles.events import ProfileRefresh, refresh_profiles
from profilo.profiles.filters import EventFilter, PropertyFilter, Window
from profilo.profiles.traits import (
    TraitDefinition,
    TraitRefresh,
    get_trait,
    list_traits,
    load_trait_file,
    parse_trait,
    refresh_traits,
    remove_trait,
    save_trait,
)
from profilo.profiles.view import (
    find_profile,
    lookup_profile,
    parse_reference,
    profile_view,
    search_profiles,
    timeline,
)

__all__ = [
    "Catalogue",
    "EventFilter",
    "ProfileRefresh",
    "PropertyFilter",
    "TraitDefinition",
    "TraitRefresh",
    "Window",
    "find_profile",
    "get_trait",
    "list_traits",
    "load_trait_file",
    "lookup_profile",
    "parse_reference",
    "parse_trait",
    "profile_view",
    "read_catalogue",
    "refresh_profiles",
    "refresh_traits",
    "remove_trait",
    "save_trait",
    "search_profiles",
    "timeline",
]

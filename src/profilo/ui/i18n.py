"""The UI's two languages: English (the messages as written) and French (:data:`FRENCH`).

Messages are English sentences used as keys (``t("Profiles")``), with ``{name}`` fields filled
by keyword; a missing French message falls back to English. Numbers, percentages and dates are
formatted by Babel for each language (``12 345`` and ``12,345``; ``24 nov. 2026`` and
``Nov 24, 2026``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_percent

__all__ = ["FRENCH", "Translator", "pick_language"]

_LOCALES = {"en": "en_GB", "fr": "fr_FR"}


@dataclass(frozen=True)
class Translator:
    """Messages and formats of one language."""

    language: str

    @property
    def locale(self) -> str:
        return _LOCALES.get(self.language, "en_GB")

    def __call__(self, message: str, **fields: Any) -> str:
        text = FRENCH.get(message) if self.language == "fr" else None
        if text is None:
            # stored names (most_recent, email_marketing…) read as words
            text = message.replace("_", " ") if " " not in message else message
        return text.format(**fields) if fields else text

    def number(self, value: float | int | None, digits: int = 2) -> str:
        if value is None:
            return "–"
        pattern = "#,##0" if isinstance(value, int) else "#,##0." + "#" * digits
        return format_decimal(value, format=pattern, locale=self.locale)

    def percent(self, value: float | None) -> str:
        if value is None:
            return "–"
        return format_percent(value, format="#,##0.#%", locale=self.locale)

    def date(self, value: dt.date | None) -> str:
        if value is None:
            return "–"
        if isinstance(value, dt.datetime):
            value = value.astimezone(UTC).date()
        return format_date(value, format="medium", locale=self.locale)

    def datetime(self, value: dt.datetime | str | None) -> str:
        if value is None:
            return "–"
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return format_datetime(value, format="medium", tzinfo=UTC, locale=self.locale) + " UTC"

    def short_date(self, value: dt.date) -> str:
        if isinstance(value, dt.datetime):
            value = value.astimezone(UTC).date()
        return format_date(value, format="d MMM", locale=self.locale)


def pick_language(accept_language: str | None) -> str:
    """``fr`` when the browser prefers French to English, else ``en``."""
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in ("fr", "en"):
            return code
    return "en"


FRENCH: dict[str, str] = {
    "Overview": "Vue d'ensemble",
    "Profiles": "Profils",
    "Segments": "Segments",
    "Sources": "Sources",
    "Destinations": "Destinations",
    "Privacy": "Confidentialité",
    "Main menu": "Menu principal",
    "Skip to content": "Aller au contenu",
    "Language": "Langue",
    "Apply": "Appliquer",
    "Log in": "Se connecter",
    "Log out": "Se déconnecter",
    "User name": "Nom d'utilisateur",
    "Password": "Mot de passe",
    "Customer data platform": "Plateforme de données clients",
    "Wrong user name or password.": "Nom d'utilisateur ou mot de passe incorrect.",
    "Personal data is masked for your role.": "Les données personnelles sont masquées pour votre rôle.",
    "admin": "administrateur",
    "marketer": "marketeur",
    "analyst": "analyste",
    "viewer": "lecteur",
    "You may not do this.": "Vous n'avez pas le droit de faire cela.",
    "Not found.": "Introuvable.",
    "This cannot be done.": "Impossible de faire cela.",
    "The store could not answer.": "La base n'a pas pu répondre.",
    "Back to the overview": "Retour à la vue d'ensemble",
    "profiles": "profils",
    "known": "connus",
    "anonymous": "anonymes",
    "events": "événements",
    "segments": "segments",
    "Events per day": "Événements par jour",
    "Figures": "Chiffres",
    "Day": "Jour",
    "Events": "Événements",
    "No events yet.": "Aucun événement pour l'instant.",
    "Identity": "Identité",
    "Records": "Enregistrements",
    "Records per profile": "Enregistrements par profil",
    "Profiles joining several records": "Profils réunissant plusieurs enregistrements",
    "Merge rate (records joined to another)": "Taux de fusion (enregistrements rattachés à un autre)",
    "Pairs waiting for review": "Paires en attente de revue",
    "Splits and never-same decisions": "Séparations et décisions « jamais la même personne »",
    "Source": "Source",
    "Kind": "Type",
    "Last event": "Dernier événement",
    "Last import": "Dernier import",
    "No sources yet.": "Aucune source pour l'instant.",
    "Segment sizes over time": "Taille des segments dans le temps",
    "No segment has run yet.": "Aucun segment n'a encore été calculé.",
    "Build a segment": "Créer un segment",
    "first": "première partie",
    "second": "deuxième partie",
    "third": "tierce partie",
    "Name, e-mail, phone or any identifier": "Nom, e-mail, téléphone ou tout identifiant",
    "Search": "Rechercher",
    "Results": "Résultats",
    "Name": "Nom",
    "E-mail": "E-mail",
    "Matched": "Trouvé par",
    "Profile": "Profil",
    "(no name)": "(sans nom)",
    "No profile matches.": "Aucun profil ne correspond.",
    "email": "e-mail",
    "phone": "téléphone",
    "first_name": "prénom",
    "last_name": "nom",
    "identifier": "identifiant",
    "← Profiles": "← Profils",
    "Anonymous profile": "Profil anonyme",
    "{n} records from {s}": "{n} enregistrements de {s}",
    "first seen": "vu la première fois le",
    "last seen": "vu la dernière fois le",
    "The record was split off; profiles were rebuilt.": "L'enregistrement a été séparé ; les profils ont été reconstruits.",
    "Golden traits": "Attributs de référence",
    "Trait": "Attribut",
    "Value": "Valeur",
    "Chosen by": "Choisi par",
    "sources disagree": "les sources divergent",
    "conflict": "conflit",
    "No traits.": "Aucun attribut.",
    "most_recent": "le plus récent",
    "most_frequent": "le plus fréquent",
    "most_complete": "le plus complet",
    "source_priority": "priorité de source",
    "Identities by source": "Identités par source",
    "(several)": "(plusieurs)",
    "No identities.": "Aucune identité.",
    "active": "actif",
    "hub": "partagé",
    "Consents": "Consentements",
    "Purpose": "Finalité",
    "Status": "Statut",
    "Since": "Depuis",
    "No consent recorded.": "Aucun consentement enregistré.",
    "granted": "accordé",
    "denied": "refusé",
    "unknown": "inconnu",
    "email_marketing": "marketing par e-mail",
    "sms_marketing": "marketing par SMS",
    "ad_targeting": "ciblage publicitaire",
    "analytics": "mesure d'audience",
    "personalisation": "personnalisation",
    "since": "depuis",
    "In no segment.": "Dans aucun segment.",
    "Computed traits and scores": "Attributs calculés et scores",
    "No computed traits.": "Aucun attribut calculé.",
    "Timeline": "Chronologie",
    "Filter": "Filtrer",
    "When": "Quand",
    "Event": "Événement",
    "Details": "Détails",
    "No events.": "Aucun événement.",
    "Older events →": "Événements plus anciens →",
    "Records and merge history": "Enregistrements et historique des fusions",
    "Why these {n} records are one person": "Pourquoi ces {n} enregistrements sont une seule personne",
    "Record": "Enregistrement",
    "Joined by": "Rattaché par",
    "First seen": "Vu la première fois",
    "self": "lui-même",
    "anchor": "ancre",
    "match": "rapprochement",
    "alias": "alias",
    "Probabilistic matches": "Rapprochements probabilistes",
    "Pair": "Paire",
    "Probability": "Probabilité",
    "Outcome": "Résultat",
    "Merges and splits": "Fusions et séparations",
    "What": "Quoi",
    "Why": "Pourquoi",
    "By": "Par",
    "merge": "fusion",
    "split": "séparation",
    "never_same": "jamais la même personne",
    "No merge or split recorded for this profile.": "Aucune fusion ni séparation pour ce profil.",
    "Split a record off this profile": "Séparer un enregistrement de ce profil",
    "Split off": "Séparer",
    "New segment": "Nouveau segment",
    "Segment": "Segment",
    "Rule": "Règle",
    "Members": "Membres",
    "Last run": "Dernier calcul",
    "archived": "archivé",
    "No segments yet.": "Aucun segment pour l'instant.",
    "← Segments": "← Segments",
    "Name (lower case, digits and _; used by rules, the API and destinations)": "Nom (minuscules, chiffres et _ ; utilisé par les règles, l'API et les destinations)",
    "Title": "Titre",
    "Description": "Description",
    "Who is in it": "Qui en fait partie",
    "The builder needs JavaScript.": "L'éditeur a besoin de JavaScript.",
    "Estimated size": "Taille estimée",
    "First members": "Premiers membres",
    "Traits": "Attributs",
    "Save segment": "Enregistrer le segment",
    "Size over time": "Taille dans le temps",
    "Run": "Calcul",
    "Entered": "Entrés",
    "Left": "Sortis",
    "No run yet.": "Pas encore calculé.",
    "Manage": "Gérer",
    "Rename": "Renommer",
    "New title": "Nouveau titre",
    "Archive": "Archiver",
    "Archived on {d}.": "Archivé le {d}.",
    "Restore": "Restaurer",
    "Members leave it now and it is no longer evaluated; it can be restored.": "Ses membres en sortent maintenant et il n'est plus calculé ; il peut être restauré.",
    "Computed trait": "Attribut calculé",
    "Consent": "Consentement",
    "Has identifier": "A un identifiant",
    "Other": "Autre",
    "is": "est",
    "is not": "n'est pas",
    "contains": "contient",
    "starts with": "commence par",
    "is one of": "est l'un de",
    "is set": "est renseigné",
    "is not set": "n'est pas renseigné",
    "on": "le",
    "after": "après",
    "on or after": "le ou après",
    "before": "avant",
    "on or before": "le ou avant",
    "at least": "au moins",
    "at most": "au plus",
    "exactly": "exactement",
    "days": "jours",
    "weeks": "semaines",
    "hours": "heures",
    "minutes": "minutes",
    "Condition": "Condition",
    "kind": "type",
    "name": "nom",
    "operator": "opérateur",
    "value": "valeur",
    "true": "vrai",
    "false": "faux",
    "event": "événement",
    "how often": "combien de fois",
    "times": "fois",
    "times, in the last": "fois, sur les derniers",
    "window (empty: ever)": "période (vide : depuis toujours)",
    "ever": "toujours",
    "unit": "unité",
    "purpose": "finalité",
    "status": "statut",
    "segment": "segment",
    "Remove": "Supprimer",
    "Group": "Groupe",
    "all of": "toutes",
    "any of": "au moins une de",
    "none of": "aucune de",
    "these conditions": "ces conditions",
    "Add condition": "Ajouter une condition",
    "Add group": "Ajouter un groupe",
    "Add a condition first.": "Ajoutez d'abord une condition.",
    "Quarantined": "En quarantaine",
    "receiving": "reçoit",
    "waiting": "en attente",
    "failing": "en échec",
    "tracking API": "API de collecte",
    "import": "import",
    "tracking": "collecte",
    "succeeded": "réussi",
    "failed": "échoué",
    "running": "en cours",
    "← Sources": "← Sources",
    "{n} events": "{n} événements",
    "last event": "dernier événement",
    "Quality": "Qualité",
    "{n} rows": "{n} lignes",
    "{n} duplicate keys": "{n} clés en double",
    "Field": "Champ",
    "Completeness": "Complétude",
    "Validity": "Validité",
    "Distinct values": "Valeurs distinctes",
    "trait": "attribut",
    "Quarantined rows": "Lignes en quarantaine",
    "Received": "Reçu",
    "Reason": "Motif",
    "Detail": "Détail",
    "Original row": "Ligne d'origine",
    "hidden for your role": "masqué pour votre rôle",
    "Nothing in quarantine.": "Rien en quarantaine.",
    "Mapping": "Correspondance",
    "Identifiers": "Identifiants",
    "Whole mapping": "Correspondance complète",
    "Destination": "Destination",
    "Last sync": "Dernière synchronisation",
    "Delivered": "Livrés",
    "Skipped": "Ignorés",
    "Dead letters": "Lettres mortes",
    "Replay": "Rejouer",
    "Replay dead letters": "Rejouer les lettres mortes",
    "No destination is connected yet. Segment entries and exits wait in the outbox for activation.": "Aucune destination n'est encore connectée. Les entrées et sorties de segments attendent l'activation dans la boîte d'envoi.",
    "No destination is connected yet: {n} segment entries and exits wait in the outbox.": (
        "Aucune destination n'est encore connectée : {n} entrées et sorties de segments"
        " attendent dans la boîte d'envoi."
    ),
    "Add one with `profilo destination add`.": "Ajoutez-en une avec `profilo destination add`.",
    "up to date": "à jour",
    "syncing": "synchronisation en cours",
    "disabled": "désactivée",
    "Waiting": "En attente",
    "Waiting to be delivered": "En attente de livraison",
    "Current consent of the {n} profiles, per purpose.": "Consentement actuel des {n} profils, par finalité.",
    "Share granted": "Part accordée",
    "Changes in the last 30 days": "Changements des 30 derniers jours",
    "No consent recorded yet.": "Aucun consentement enregistré pour l'instant.",
    "Latest change": "Dernier changement",
}

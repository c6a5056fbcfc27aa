"""Maison Lumière's product catalogue: home goods and fashion, named in French and English.

The catalogue is the same for every seed: a product is a kind of item (a table lamp, a midi
dress…) from one of the house's collections ("Opaline table lamp"). Prices are in euro and pound
cents; popularity follows a long tail, as in any shop.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt

__all__ = ["CATEGORIES", "Catalogue", "catalogue", "slug"]

CATEGORIES: tuple[tuple[str, str, str], ...] = (
    # (category as the data says it, French label, French URL part)
    ("Lighting", "Luminaires", "luminaires"),
    ("Bed & Bath", "Linge de maison", "linge-de-maison"),
    ("Tableware", "Art de la table", "art-de-la-table"),
    ("Decor", "Décoration", "decoration"),
    ("Womenswear", "Mode femme", "mode-femme"),
    ("Menswear", "Mode homme", "mode-homme"),
    ("Accessories", "Accessoires", "accessoires"),
)

_KINDS: tuple[tuple[int, str, str, int], ...] = (
    # (category, French, English, base price in euros)
    (0, "Lampe à poser", "table lamp", 59),
    (0, "Suspension", "pendant light", 89),
    (0, "Applique murale", "wall light", 69),
    (0, "Lampadaire", "floor lamp", 149),
    (0, "Guirlande lumineuse", "string lights", 29),
    (0, "Bougie parfumée", "scented candle", 24),
    (1, "Housse de couette", "duvet cover", 89),
    (1, "Taie d'oreiller", "pillowcase", 19),
    (1, "Drap housse", "fitted sheet", 39),
    (1, "Serviette de bain", "bath towel", 25),
    (1, "Plaid", "throw", 59),
    (1, "Peignoir", "bathrobe", 69),
    (2, "Assiette plate", "dinner plate", 12),
    (2, "Bol", "bowl", 9),
    (2, "Tasse", "mug", 11),
    (2, "Carafe", "carafe", 29),
    (2, "Nappe", "tablecloth", 45),
    (2, "Verre à vin", "wine glass", 10),
    (3, "Vase", "vase", 39),
    (3, "Miroir rond", "round mirror", 119),
    (3, "Coussin", "cushion", 29),
    (3, "Cadre photo", "photo frame", 19),
    (3, "Tapis", "rug", 189),
    (3, "Panier tressé", "woven basket", 35),
    (4, "Robe midi", "midi dress", 79),
    (4, "Chemise", "shirt", 55),
    (4, "Pull", "jumper", 69),
    (4, "Jupe plissée", "pleated skirt", 59),
    (4, "Trench", "trench coat", 159),
    (4, "Cardigan", "cardigan", 65),
    (5, "Chemise", "shirt", 59),
    (5, "Pull col rond", "crew-neck jumper", 75),
    (5, "Pantalon chino", "chinos", 69),
    (5, "Veste", "jacket", 139),
    (5, "T-shirt", "T-shirt", 25),
    (5, "Surchemise", "overshirt", 89),
    (6, "Écharpe", "scarf", 35),
    (6, "Sac cabas", "tote bag", 49),
    (6, "Ceinture en cuir", "leather belt", 45),
    (6, "Bonnet", "beanie", 25),
    (6, "Pochette", "pouch", 29),
    (6, "Chapeau de paille", "straw hat", 39),
)

_COLLECTIONS: tuple[tuple[str, float], ...] = (
    ("Opaline", 1.15),
    ("Camargue", 1.0),
    ("Riviera", 1.1),
    ("Belle-Île", 1.05),
    ("Montmartre", 1.2),
    ("Lubéron", 0.95),
    ("Étretat", 1.0),
    ("Honfleur", 0.9),
    ("Sologne", 1.3),
    ("Vercors", 0.85),
)


def slug(text: str) -> str:
    """URL part of a name: ``"Lampe à poser Opaline"`` → ``"lampe-a-poser-opaline"``."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    words = "".join(c if c.isalnum() else " " for c in folded).split()
    return "-".join(words)


@dataclass(frozen=True)
class Catalogue:
    """Products as parallel columns; a product is its row number."""

    sku: tuple[str, ...]
    category: npt.NDArray[np.int64]
    name_fr: tuple[str, ...]
    name_en: tuple[str, ...]
    price_eur: npt.NDArray[np.int64]
    """Unit price in euro cents."""
    price_gbp: npt.NDArray[np.int64]
    """Unit price in pound cents."""
    popularity: npt.NDArray[np.float64]
    """Probability of each product being the one looked at or bought."""

    def __len__(self) -> int:
        return len(self.sku)


@cache
def catalogue() -> Catalogue:
    """The catalogue (built once; identical for every seed)."""
    sku, category, name_fr, name_en, eur, gbp = [], [], [], [], [], []
    for k, (cat, fr, en, base) in enumerate(_KINDS):
        for c, (collection, factor) in enumerate(_COLLECTIONS):
            sku.append(f"ML-{10000 + k * 37 + c * 1009:05d}")
            category.append(cat)
            name_fr.append(f"{fr} {collection}")
            name_en.append(f"{collection} {en}")
            euros = max(5, round(base * factor))
            eur.append(euros * 100 - 10)
            gbp.append(round(euros * 0.86) * 100 - 5)
    # A fixed long tail: the house's bestsellers, whatever the seed of the demo.
    order = np.random.Generator(np.random.PCG64(2024)).permutation(len(sku))
    popularity = 1.0 / (np.argsort(order) + 8.0) ** 1.1
    return Catalogue(
        sku=tuple(sku),
        category=np.array(category, dtype=np.int64),
        name_fr=tuple(name_fr),
        name_en=tuple(name_en),
        price_eur=np.array(eur, dtype=np.int64),
        price_gbp=np.array(gbp, dtype=np.int64),
        popularity=popularity / popularity.sum(),
    )

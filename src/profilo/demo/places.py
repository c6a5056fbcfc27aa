"""Where the demo's customers live and shop: cities, postal codes, streets, stores, countries.

Each city line reads ``name; postal codes; weight; nearest store``. French postal codes such as
Nice's ``06000`` start with a zero on purpose: spreadsheets drop it, and the noise keeps that.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CITIES",
    "COUNTRY_SPELLINGS",
    "STORES",
    "STREETS",
    "City",
    "Store",
]


def _split(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


@dataclass(frozen=True)
class Store:
    code: str
    name: str
    country: str
    fallback_email: str
    """What the till staff type when a customer will not give an e-mail address."""


@dataclass(frozen=True)
class City:
    country: str
    name: str
    postal_codes: tuple[str, ...]
    """French and Belgian codes; for the UK, the outward codes (districts) of the city."""
    weight: float
    store: str


_FR_STORE_EMAIL = "magasin@maisonlumiere.fr"
_UK_STORE_EMAIL = "store@maisonlumiere.co.uk"

STORES: tuple[Store, ...] = (
    Store("PRV", "Paris Rivoli", "FR", _FR_STORE_EMAIL),
    Store("PSG", "Paris Saint-Germain", "FR", _FR_STORE_EMAIL),
    Store("LPD", "Lyon Part-Dieu", "FR", _FR_STORE_EMAIL),
    Store("MTP", "Marseille Terrasses du Port", "FR", _FR_STORE_EMAIL),
    Store("BSC", "Bordeaux Sainte-Catherine", "FR", _FR_STORE_EMAIL),
    Store("LEU", "Lille Euralille", "FR", _FR_STORE_EMAIL),
    Store("NAT", "Nantes Atlantis", "FR", _FR_STORE_EMAIL),
    Store("TWI", "Toulouse Wilson", "FR", _FR_STORE_EMAIL),
    Store("NMA", "Nice Masséna", "FR", _FR_STORE_EMAIL),
    Store("SKL", "Strasbourg Kléber", "FR", _FR_STORE_EMAIL),
    Store("BLO", "Bruxelles Louise", "BE", _FR_STORE_EMAIL),
    Store("LMD", "Liège Médiacité", "BE", _FR_STORE_EMAIL),
    Store("LCG", "London Covent Garden", "GB", _UK_STORE_EMAIL),
    Store("LWC", "London Westfield White City", "GB", _UK_STORE_EMAIL),
    Store("MAR", "Manchester Arndale", "GB", _UK_STORE_EMAIL),
    Store("EPS", "Edinburgh Princes Street", "GB", _UK_STORE_EMAIL),
    Store("BCC", "Bristol Cabot Circus", "GB", _UK_STORE_EMAIL),
)

_CITY_LINES = """
FR; Paris; 75001-75020; 220; PRV
FR; Paris; 75005-75017; 80; PSG
FR; Marseille; 13001-13016; 87; MTP
FR; Lyon; 69001-69009; 52; LPD
FR; Toulouse; 31000 31100 31200 31300 31400 31500; 50; TWI
FR; Nice; 06000 06100 06200 06300; 34; NMA
FR; Nantes; 44000 44100 44200 44300; 32; NAT
FR; Montpellier; 34000 34070 34080 34090; 30; TWI
FR; Strasbourg; 67000 67100 67200; 29; SKL
FR; Bordeaux; 33000 33100 33200 33300 33800; 26; BSC
FR; Lille; 59000 59160 59260 59800; 24; LEU
FR; Rennes; 35000 35200 35700; 22; NAT
FR; Reims; 51100; 18; LEU
FR; Saint-Étienne; 42000 42100; 17; LPD
FR; Toulon; 83000 83100 83200; 18; MTP
FR; Le Havre; 76600 76610 76620; 17; PRV
FR; Grenoble; 38000 38100; 16; LPD
FR; Dijon; 21000; 16; SKL
FR; Angers; 49000 49100; 15; NAT
FR; Nîmes; 30000 30900; 15; MTP
FR; Villeurbanne; 69100; 15; LPD
FR; Clermont-Ferrand; 63000 63100; 15; LPD
FR; Le Mans; 72000 72100; 14; NAT
FR; Aix-en-Provence; 13080 13090 13100; 14; MTP
FR; Brest; 29200; 14; NAT
FR; Tours; 37000 37100 37200; 14; NAT
FR; Amiens; 80000 80080 80090; 13; LEU
FR; Limoges; 87000 87100 87280; 13; BSC
FR; Annecy; 74000 74370 74940; 13; LPD
FR; Perpignan; 66000 66100; 12; TWI
FR; Boulogne-Billancourt; 92100; 12; PSG
FR; Metz; 57000 57050 57070; 12; SKL
FR; Besançon; 25000; 12; SKL
FR; Orléans; 45000 45100; 12; PRV
FR; Rouen; 76000 76100; 11; PRV
FR; Mulhouse; 68100 68200; 11; SKL
FR; Caen; 14000; 11; PRV
FR; Nancy; 54000 54100; 10; SKL
FR; Argenteuil; 95100; 10; PRV
FR; Montreuil; 93100; 10; PRV
FR; Roubaix; 59100; 10; LEU
FR; Tourcoing; 59200; 9; LEU
FR; Avignon; 84000; 9; MTP
FR; Versailles; 78000; 9; PSG
FR; Pau; 64000; 8; BSC
FR; La Rochelle; 17000; 8; BSC
FR; Cannes; 06400 06150; 7; NMA
FR; Antibes; 06600 06160; 7; NMA
FR; Menton; 06500; 3; NMA
FR; Grasse; 06130 06520; 5; NMA
FR; Bourg-en-Bresse; 01000; 4; LPD
FR; Oyonnax; 01100; 2; LPD
FR; Saint-Quentin; 02100; 5; LEU
FR; Laon; 02000; 2; LEU
FR; Vichy; 03200; 3; LPD
FR; Montluçon; 03100; 3; LPD
FR; Charleville-Mézières; 08000 08090; 4; LEU
FR; Foix; 09000; 1; TWI
FR; Troyes; 10000; 6; PRV
FR; Neuilly-sur-Seine; 92200; 6; PSG
FR; Levallois-Perret; 92300; 6; PSG
FR; Vincennes; 94300; 5; PRV
FR; Saint-Denis; 93200; 11; PRV
FR; Créteil; 94000; 9; PRV
FR; Évry-Courcouronnes; 91000 91080; 6; PRV
BE; Bruxelles; 1000 1020 1120 1130; 30; BLO
BE; Ixelles; 1050; 9; BLO
BE; Etterbeek; 1040; 5; BLO
BE; Schaerbeek; 1030; 12; BLO
BE; Uccle; 1180; 8; BLO
BE; Woluwe-Saint-Lambert; 1200; 6; BLO
BE; Anderlecht; 1070; 12; BLO
BE; Liège; 4000 4020 4030; 20; LMD
BE; Namur; 5000 5002 5100; 11; BLO
BE; Charleroi; 6000 6001 6010; 20; BLO
BE; Mons; 7000 7011; 10; BLO
BE; Tournai; 7500; 7; BLO
BE; Wavre; 1300; 3; BLO
BE; Louvain-la-Neuve; 1348; 3; BLO
BE; Waterloo; 1410; 3; BLO
BE; Verviers; 4800; 5; LMD
BE; Arlon; 6700; 3; LMD
BE; Antwerpen; 2000 2018 2060; 15; BLO
BE; Gent; 9000 9040; 10; BLO
BE; Leuven; 3000 3010; 6; BLO
GB; London; SW1A SW3 SW4 SW11 SW18 SE1 SE15 SE22 N1 N7 N16 E2 E8 E14 W2 W11 NW1 NW3; 300; LCG
GB; London; W4 W6 W12 W14 NW6 NW10 EC1V WC2H; 120; LWC
GB; Manchester; M1 M4 M14 M20 M21; 55; MAR
GB; Birmingham; B1 B5 B13 B15 B17; 60; MAR
GB; Leeds; LS1 LS6 LS8 LS17; 40; MAR
GB; Liverpool; L1 L8 L17 L18; 30; MAR
GB; Sheffield; S1 S7 S10 S11; 28; MAR
GB; Bristol; BS1 BS3 BS6 BS8; 30; BCC
GB; Edinburgh; EH1 EH3 EH6 EH10; 30; EPS
GB; Glasgow; G1 G3 G12 G41; 35; EPS
GB; Cardiff; CF10 CF11 CF14; 20; BCC
GB; Newcastle upon Tyne; NE1 NE2 NE6; 15; EPS
GB; Nottingham; NG1 NG5 NG7; 17; MAR
GB; Brighton; BN1 BN2 BN3; 15; LCG
GB; Oxford; OX1 OX2 OX4; 9; LCG
GB; Cambridge; CB1 CB2 CB4; 8; LCG
GB; Bath; BA1 BA2; 6; BCC
GB; York; YO1 YO10 YO31; 9; MAR
GB; Belfast; BT1 BT7 BT9; 18; EPS
"""


def _postal_codes(spec: str) -> tuple[str, ...]:
    if "-" in spec and " " not in spec:
        first, last = spec.split("-")
        return tuple(str(code) for code in range(int(first), int(last) + 1))
    return tuple(spec.split())


def _cities() -> tuple[City, ...]:
    cities = []
    for line in _CITY_LINES.strip().splitlines():
        country, name, codes, weight, store = (part.strip() for part in line.split(";"))
        cities.append(City(country, name, _postal_codes(codes), float(weight), store))
    return tuple(cities)


CITIES: tuple[City, ...] = _cities()
"""Cities by country with a population-like weight and the store their people shop at."""

STREETS: dict[str, tuple[str, ...]] = {
    "FR": _split(
        """
        rue de la République, rue Victor Hugo, avenue Jean Jaurès, boulevard Gambetta,
        rue Pasteur, place de l'Église, rue du Général de Gaulle, allée des Tilleuls,
        chemin des Vignes, rue Émile Zola, impasse des Lilas, rue de la Paix, avenue Foch,
        rue Nationale, rue des Écoles, quai Saint-Michel, boulevard Voltaire, rue de Verdun,
        rue Jules Ferry, rue du Moulin, route de Lyon, rue Saint-Honoré, rue de Rivoli,
        cours Mirabeau, rue Sainte-Catherine, avenue des Champs-Élysées, rue de la Gare,
        rue du Château, rue des Jardins, avenue de la Libération, rue Anatole France,
        rue Carnot, rue de Strasbourg, rue Lamartine, rue du Faubourg Saint-Antoine,
        boulevard de la Croix-Rousse, rue d'Alésia, rue de Ménilmontant
        """
    ),
    "BE": _split(
        """
        Rue Neuve, Avenue Louise, Chaussée de Waterloo, Rue de la Loi, Boulevard Anspach,
        Rue du Marché, Place Saint-Lambert, Rue des Carmes, Avenue de Tervueren, Rue Haute,
        Chaussée d'Ixelles, Rue de l'Église, Rue de la Station, Avenue des Combattants,
        Kerkstraat, Stationsstraat, Meir, Veldstraat, Rue du Pont d'Avroy, Rue de Fer
        """
    ),
    "GB": _split(
        """
        High Street, Station Road, Church Lane, Park Road, Victoria Road, Green Lane,
        Manor Road, Church Street, The Crescent, Kings Road, Queen's Road, Mill Lane,
        London Road, Albert Road, Elm Grove, Grosvenor Square, Portobello Road,
        Marylebone High Street, Chapel Street, Springfield Road, Windsor Avenue, Oxford Road,
        St John's Road, Cromwell Road
        """
    ),
}
"""Street names per country; the house number goes before (FR, UK) or after (BE) the name."""

COUNTRY_SPELLINGS: dict[str, tuple[tuple[str, float], ...]] = {
    "FR": (("France", 0.62), ("FR", 0.2), ("FRANCE", 0.12), ("france", 0.04), ("Fr", 0.02)),
    "BE": (
        ("Belgique", 0.55),
        ("BE", 0.2),
        ("Belgium", 0.15),
        ("BELGIQUE", 0.07),
        ("België", 0.03),
    ),
    "GB": (
        ("United Kingdom", 0.45),
        ("UK", 0.25),
        ("GB", 0.1),
        ("England", 0.1),
        ("Royaume-Uni", 0.06),
        ("U.K.", 0.04),
    ),
}
"""How the CRM's users typed each country, with how often."""

"""People's names and e-mail domains for the demo, by country.

Lists are ordered from the most to the least common: the generator draws with Zipf-like weights by
rank, so "Martin" and "Smith" repeat the way they do in real customer files. Accents are kept;
the shop system drops them later on purpose.
"""

from __future__ import annotations

__all__ = [
    "COUNTRIES",
    "COUNTRY_SHARES",
    "EMAIL_DOMAINS",
    "FIRST_NAMES",
    "LAST_NAMES",
    "WORK_DOMAINS",
]


def _split(text: str) -> tuple[str, ...]:
    """A comma-separated list written as a text block (names may hold spaces)."""
    return tuple(item.strip() for item in text.split(",") if item.strip())


COUNTRIES: tuple[str, ...] = ("FR", "BE", "GB")
COUNTRY_SHARES: tuple[float, ...] = (0.65, 0.10, 0.25)

_FR_WOMEN = _split(
    """
    Marie, Nathalie, Isabelle, Sylvie, Catherine, Sophie, Camille, Françoise, Christine,
    Valérie, Céline, Sandrine, Stéphanie, Julie, Aurélie, Émilie, Léa, Manon, Chloé, Laure,
    Anne, Claire, Hélène, Caroline, Élodie, Inès, Emma, Louise, Alice, Juliette, Pauline,
    Mathilde, Margaux, Charlotte, Lucie, Sarah, Laura, Marine, Justine, Amandine, Audrey,
    Delphine, Florence, Virginie, Véronique, Monique, Martine, Nicole, Chantal, Brigitte,
    Jacqueline, Éloïse, Bénédicte, Agnès, Anaïs, Clémence, Mélanie, Noémie, Océane, Maëlle,
    Gaëlle, Zoé, Jade, Élise, Geneviève, Danièle, Thérèse, Béatrice, Cécile, Solène,
    Anne-Sophie, Marie-Claire, Marie-Hélène, Ségolène, Mélissa, Capucine, Apolline, Héloïse,
    Joséphine, Adèle
    """
)
_FR_MEN = _split(
    """
    Nicolas, Julien, Thomas, Pierre, Jean, Philippe, Christophe, Stéphane, Laurent, François,
    Michel, Sébastien, Frédéric, Olivier, Alexandre, David, Éric, Patrick, Alain, Antoine,
    Guillaume, Jérôme, Thierry, Maxime, Hugo, Lucas, Louis, Gabriel, Arthur, Jules, Raphaël,
    Léo, Théo, Mathéo, Clément, Benoît, Rémi, Loïc, Gaël, Joël, Hervé, Gérard, Bernard,
    Jacques, Daniel, Christian, René, André, Claude, Étienne, Jérémy, Grégoire, Aurélien,
    Cédric, Damien, Fabrice, Yannick, Mickaël, Anthony, Kévin, Florian, Quentin, Romain,
    Baptiste, Valentin, Adrien, Mathieu, Vincent, Bruno, Didier, Marc, Denis, Gilles, Emmanuel,
    Jean-Pierre, Jean-François, Jean-Baptiste, Noël, Anaël, Timothée
    """
)
_FR_LAST = _split(
    """
    Martin, Bernard, Thomas, Petit, Robert, Richard, Durand, Dubois, Moreau, Laurent, Simon,
    Michel, Lefèvre, Leroy, Roux, David, Bertrand, Morel, Fournier, Girard, Bonnet, Dupont,
    Lambert, Fontaine, Rousseau, Vincent, Muller, Lefebvre, Faure, André, Mercier, Blanc,
    Guérin, Boyer, Garnier, Chevalier, François, Legrand, Gauthier, Garcia, Perrin, Robin,
    Clément, Morin, Nicolas, Henry, Roussel, Mathieu, Gautier, Masson, Marchand, Duval, Denis,
    Dumont, Marie, Lemaire, Noël, Meyer, Dufour, Meunier, Brun, Blanchard, Giraud, Joly,
    Rivière, Lucas, Brunet, Gaillard, Barbier, Arnaud, Martinez, Gérard, Roche, Renard,
    Schmitt, Roy, Leroux, Colin, Vidal, Caron, Picard, Roger, Fabre, Aubert, Lemoine, Renaud,
    Dumas, Lacroix, Olivier, Philippe, Bourgeois, Pierre, Benoît, Rey, Leclerc, Payet, Rolland,
    Leclercq, Guillaume, Lecomte, Lopez, Jean, Dupuy, Guillot, Hubert, Berger, Carpentier,
    Deschamps, Huet, Vasseur, Hébert, Pelletier, Ménard, Bérard, Gosselin, Lévêque, Besnard,
    Thévenin, Prévost, Bénard, Léger, Chrétien, Crépin, Desprès, Fèvre, Bézier, Lefèbvre,
    Daudé, Mallet, Charpentier, Boucher, Poirier, Marty, Dupré, Fleury, Collet, Boulanger,
    Le Gall, Le Goff, de la Tour, Saint-Martin
    """
)
_BE_WOMEN = _split(
    """
    Marie, Laura, Sarah, Julie, Emma, Louise, Camille, Charlotte, Léa, Sophie, Nathalie,
    Isabelle, Anne, Catherine, Chloé, Manon, Élise, Lotte, Sofie, Lies, An, Els, Fien, Hélène,
    Noémie, Amélie, Géraldine, Griet, Ann-Sophie, Joke
    """
)
_BE_MEN = _split(
    """
    Thomas, Nicolas, Maxime, Julien, Antoine, Olivier, Pierre, Philippe, Michel, Jean, Luc,
    Marc, François, Louis, Arthur, Hugo, Pieter, Jan, Wouter, Bart, Koen, Maarten, Thijs,
    Benoît, Cédric, Grégory, Sébastien, Jérôme, Frédéric, Raphaël
    """
)
_BE_LAST = _split(
    """
    Peeters, Janssens, Maes, Jacobs, Mertens, Willems, Claes, Goossens, Wouters, Dubois,
    Lambert, Dupont, Martin, Simon, Laurent, Leclercq, Renard, Lejeune, Collard, Denis,
    Hermans, De Smet, Van den Bossche, Vandenberghe, Desmet, Dumont, Gilson, Lemaire, Mathieu,
    François, Piette, Delvaux, Bodart, Hanssens, Van Damme, Lefèvre, Michaux, Gérard, Noël,
    Pirotte
    """
)
_GB_WOMEN = _split(
    """
    Sarah, Emma, Laura, Rebecca, Sophie, Emily, Hannah, Jessica, Charlotte, Lucy, Olivia,
    Amelia, Isla, Ava, Grace, Lily, Freya, Ella, Poppy, Mia, Evie, Isabella, Rachel, Claire,
    Helen, Karen, Susan, Elizabeth, Catherine, Victoria, Chloe, Megan, Niamh, Siobhan, Eilidh,
    Zoë, Anne, Margaret, Joanne, Nicola, Kirsty, Fiona, Gemma, Amy, Katie, Harriet, Imogen,
    Beatrice, Rosie, Alice
    """
)
_GB_MEN = _split(
    """
    James, David, John, Michael, Paul, Daniel, Thomas, Mark, Andrew, Richard, Christopher,
    Matthew, Oliver, George, Harry, Jack, Jacob, Noah, Charlie, Oscar, William, Henry, Leo,
    Alfie, Joshua, Freddie, Archie, Ethan, Isaac, Alexander, Stephen, Peter, Robert, Simon,
    Ian, Gareth, Rhys, Callum, Liam, Connor, Owen, Sean, Niall, Hamish, Rory, Ben, Sam, Tom,
    Edward, Hugo
    """
)
_GB_LAST = _split(
    """
    Smith, Jones, Williams, Taylor, Brown, Davies, Evans, Wilson, Thomas, Johnson, Roberts,
    Robinson, Thompson, Wright, Walker, White, Edwards, Hughes, Green, Hall, Lewis, Harris,
    Clarke, Patel, Jackson, Wood, Turner, Martin, Cooper, Hill, Ward, Morris, Moore, Clark,
    Lee, King, Baker, Harrison, Morgan, Allen, James, Scott, Phillips, Watson, Davis, Parker,
    Price, Bennett, Young, Griffiths, Mitchell, Kelly, Cook, Carter, Richardson, Bailey,
    Collins, Bell, Shaw, Murphy, Miller, Cox, Richards, Khan, Marshall, Anderson, Simpson,
    Ellis, Adams, Singh, Begum, Wilkinson, Foster, Chapman, Powell, Webb, Rogers, Gray, Mason,
    Ali, Hunt, Hussain, Campbell, Matthews, Owen, Palmer, Holmes, Mills, Barnes, Knight, Lloyd,
    Butler, Russell, Barker, Fisher, Stevens, Jenkins, Murray, Dixon, Harvey, O'Brien,
    O'Connor, McDonald, MacLeod, Fitzgerald, Smith-Jones, Ashworth
    """
)

FIRST_NAMES: dict[tuple[str, bool], tuple[str, ...]] = {
    ("FR", True): _FR_WOMEN,
    ("FR", False): _FR_MEN,
    ("BE", True): _BE_WOMEN,
    ("BE", False): _BE_MEN,
    ("GB", True): _GB_WOMEN,
    ("GB", False): _GB_MEN,
}
"""First names by (country, is a woman)."""

LAST_NAMES: dict[str, tuple[str, ...]] = {"FR": _FR_LAST, "BE": _BE_LAST, "GB": _GB_LAST}

EMAIL_DOMAINS: dict[str, tuple[str, ...]] = {
    "FR": (
        "gmail.com",
        "orange.fr",
        "hotmail.fr",
        "free.fr",
        "yahoo.fr",
        "laposte.net",
        "sfr.fr",
        "outlook.fr",
        "wanadoo.fr",
        "icloud.com",
        "live.fr",
        "neuf.fr",
        "protonmail.com",
    ),
    "BE": (
        "gmail.com",
        "skynet.be",
        "hotmail.com",
        "telenet.be",
        "outlook.be",
        "proximus.be",
        "yahoo.fr",
        "icloud.com",
        "live.be",
    ),
    "GB": (
        "gmail.com",
        "hotmail.co.uk",
        "yahoo.co.uk",
        "outlook.com",
        "btinternet.com",
        "icloud.com",
        "live.co.uk",
        "sky.com",
        "aol.com",
        "googlemail.com",
    ),
}
"""Personal mailbox providers, most common first."""

WORK_DOMAINS: tuple[str, ...] = (
    "atelier-vernier.fr",
    "groupe-castagne.com",
    "cabinet-morvan.fr",
    "lumen-conseil.fr",
    "banque-delorme.fr",
    "transports-gauthier.fr",
    "hopital-saint-luc.fr",
    "mairie-vanves.fr",
    "ecole-des-tilleuls.fr",
    "studio-ardoise.com",
    "northfield-consulting.co.uk",
    "harbourline.co.uk",
    "kestrel-analytics.com",
    "brightwater-legal.co.uk",
    "ashgrove-nhs.uk",
    "delvaux-partners.be",
    "brasserie-mosane.be",
    "maisonlumiere.com",
)
"""Employers' domains (fictional) for the people who buy with a work address."""

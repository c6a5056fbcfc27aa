"""What customers write: help-desk tickets and survey comments, in French and in English.

Placeholders: ``{first}``, ``{last}``, ``{order}``, ``{product}``, ``{date}``, ``{days}``,
``{store}``. Bodies hold commas, quotes and line breaks on purpose: the CSV files must quote them.
"""

from __future__ import annotations

__all__ = ["COMMENTS", "ORDER_TOPICS", "TICKETS", "TOPIC_SHARES"]

# Topic → (needs an order, priority weights low/normal/high/urgent)
ORDER_TOPICS: dict[str, bool] = {
    "delivery_late": True,
    "refund": True,
    "damaged": True,
    "exchange": True,
    "thanks": True,
    "address_change": True,
    "account": False,
    "unsubscribe": False,
    "loyalty": False,
    "store": False,
}
TOPIC_SHARES: dict[str, float] = {
    "delivery_late": 0.24,
    "refund": 0.14,
    "damaged": 0.13,
    "exchange": 0.10,
    "thanks": 0.07,
    "address_change": 0.05,
    "account": 0.09,
    "unsubscribe": 0.05,
    "loyalty": 0.07,
    "store": 0.06,
}

TICKETS: dict[str, dict[str, tuple[tuple[str, str], ...]]] = {
    "fr": {
        "delivery_late": (
            (
                "Commande {order} toujours pas livrée",
                "Bonjour,\n\nJ'ai passé commande le {date} (n° {order}) et je n'ai toujours rien "
                'reçu, alors que le suivi indique "en cours de livraison" depuis {days} jours.\n'
                "Pouvez-vous me dire où en est mon colis ?\n\nMerci d'avance,\n{first} {last}",
            ),
            (
                "Retard de livraison",
                "Bonjour, ma commande {order} devait arriver il y a {days} jours... Le "
                "transporteur ne répond pas. C'est un cadeau, donc c'est assez urgent !\n"
                "Cordialement,\n{first}",
            ),
        ),
        "refund": (
            (
                "Demande de remboursement – commande {order}",
                "Bonjour,\nJ'ai renvoyé l'article « {product} » il y a {days} jours, mais je n'ai "
                "pas encore été remboursé(e). Pouvez-vous vérifier, s'il vous plaît ?\n"
                "Bien à vous,\n{first} {last}",
            ),
            (
                "Remboursement non reçu",
                'Bonjour, le statut de mon retour indique "reçu en entrepôt", mais toujours '
                "aucun remboursement sur ma carte. Commande {order}.\nMerci,\n{first}",
            ),
        ),
        "damaged": (
            (
                "Article cassé à la livraison",
                "Bonjour,\nLe colis de ma commande {order} est arrivé abîmé : {product}, cassé, "
                "et le carton était ouvert.\nJe joins des photos. Je souhaite un échange, ou à "
                "défaut un remboursement.\n\n{first} {last}",
            ),
            (
                "Produit défectueux",
                "Bonjour, « {product} » ne fonctionne plus après {days} jours, c'est très "
                "décevant pour le prix. Que proposez-vous ?\n{first} {last}",
            ),
        ),
        "exchange": (
            (
                "Échange de taille",
                "Bonjour, l'article {product} taille trop petit (j'ai pris un M, il me faudrait "
                "un L). Comment faire un échange ? Commande {order}.\nMerci, {first}",
            ),
        ),
        "thanks": (
            (
                "Merci !",
                "Bonjour,\nJuste un mot pour vous dire merci : commande reçue en {days} jours, "
                'emballage soigné, et "{product}" est encore plus joli qu\'en photo.\n'
                "À bientôt,\n{first}",
            ),
        ),
        "address_change": (
            (
                "Changement d'adresse de livraison",
                "Bonjour,\nJe viens de passer la commande {order}, mais je me suis trompé(e) "
                "d'adresse. Est-il encore possible de la modifier ?\nMerci beaucoup,\n"
                "{first} {last}",
            ),
        ),
        "account": (
            (
                "Impossible de me connecter",
                "Bonjour, je n'arrive plus à me connecter à mon compte : le lien de "
                'réinitialisation du mot de passe ne marche pas (erreur "lien expiré").\n'
                "Pouvez-vous m'aider ?\n{first} {last}",
            ),
        ),
        "unsubscribe": (
            (
                "Désinscription",
                "Merci de ne plus m'envoyer vos newsletters, j'en reçois beaucoup trop.\n"
                "Cordialement, {first} {last}",
            ),
        ),
        "loyalty": (
            (
                "Points fidélité manquants",
                "Bonjour,\nMes points de fidélité n'apparaissent pas après mon achat au magasin "
                "{store}, le {date}. Pouvez-vous les ajouter ?\nMerci,\n{first}",
            ),
        ),
        "store": (
            (
                "Question sur le magasin {store}",
                "Bonjour, le magasin {store} est-il ouvert le dimanche ? Et peut-on y retirer "
                "une commande passée en ligne ?\nMerci, {first}",
            ),
        ),
    },
    "en": {
        "delivery_late": (
            (
                "Order {order} still not delivered",
                "Hello,\n\nI placed order {order} on {date} and nothing has arrived yet, although "
                'tracking has said "out for delivery" for {days} days.\nCould you tell me where '
                "my parcel is?\n\nThanks,\n{first} {last}",
            ),
            (
                "Late delivery",
                "Hi, my order {order} was due {days} days ago... The courier isn't answering. "
                "It's a present, so it's rather urgent!\nBest,\n{first}",
            ),
        ),
        "refund": (
            (
                "Refund request - order {order}",
                'Hello,\nI sent back the "{product}" {days} days ago, but I haven\'t been '
                "refunded yet. Could you please check?\nKind regards,\n{first} {last}",
            ),
        ),
        "damaged": (
            (
                "Item broken on arrival",
                "Hello,\nThe parcel for order {order} arrived damaged: the {product} is broken, "
                "and the box had been opened.\nPhotos attached. I'd like a replacement, or "
                "failing that, a refund.\n\n{first} {last}",
            ),
        ),
        "exchange": (
            (
                "Exchange for a different size",
                "Hi, the {product} is too small (I ordered an M, I need an L). How do I exchange "
                "it? Order {order}.\nThanks, {first}",
            ),
        ),
        "thanks": (
            (
                "Thank you!",
                "Hello,\nJust a note to say thank you: order arrived in {days} days, beautifully "
                'wrapped, and the "{product}" looks even better than in the photos.\n'
                "Cheers,\n{first}",
            ),
        ),
        "address_change": (
            (
                "Change of delivery address",
                "Hello,\nI've just placed order {order}, but I used my old address. Can it still "
                "be changed?\nMany thanks,\n{first} {last}",
            ),
        ),
        "account": (
            (
                "Can't log in",
                "Hi, I can't log in to my account any more: the password reset link doesn't work "
                '(it says "link expired").\nCan you help?\n{first} {last}',
            ),
        ),
        "unsubscribe": (
            (
                "Unsubscribe",
                "Please stop sending me your newsletters, I get far too many.\n"
                "Regards, {first} {last}",
            ),
        ),
        "loyalty": (
            (
                "Missing loyalty points",
                "Hello,\nMy loyalty points didn't show up after I shopped at {store} on {date}. "
                "Could you add them?\nThanks,\n{first}",
            ),
        ),
        "store": (
            (
                "Question about the {store} store",
                "Hi, is the {store} shop open on Sundays? And can I collect an online order "
                "there?\nThanks, {first}",
            ),
        ),
    },
}

COMMENTS: dict[str, dict[str, tuple[str, ...]]] = {
    "fr": {
        "detractor": (
            "Livraison beaucoup trop longue, et aucune réponse du service client.",
            "Qualité décevante : le linge a bouloché après deux lavages.",
            'Article reçu cassé, et on me demande de "patienter"...',
            "Trop cher pour ce que c'est.",
            "Le site plante au moment du paiement, j'ai dû m'y reprendre à trois fois.",
        ),
        "passive": (
            "Bons produits, mais les frais de port sont élevés.",
            "Correct, sans plus. Le magasin était un peu en désordre.",
            "Joli, mais la couleur n'était pas tout à fait celle de la photo.",
            "Livraison un peu lente, sinon rien à redire.",
        ),
        "promoter": (
            "Toujours ravie, les vendeuses de {store} sont adorables !",
            "Superbe qualité, livraison rapide. Je recommande.",
            "Très beau linge de maison, j'en rachèterai.",
            "Parfait, merci !",
            'Le service client a été top, échange fait en 3 jours, "sans chichis".',
        ),
    },
    "en": {
        "detractor": (
            "Delivery took far too long and customer service never replied.",
            "Disappointing quality: the throw started pilling after two washes.",
            'Item arrived broken and I was told to "be patient"...',
            "Too expensive for what it is.",
        ),
        "passive": (
            "Nice things, but delivery costs are high.",
            "Fine, nothing special. The shop was a bit messy.",
            "Lovely, though the colour wasn't quite as pictured.",
        ),
        "promoter": (
            "Always lovely, the staff at {store} are so helpful!",
            "Great quality, quick delivery. Would recommend.",
            "Gorgeous bedding, will definitely buy again.",
            "Perfect, thank you!",
        ),
    },
}
"""Survey comments by language and NPS band (0–6, 7–8, 9–10)."""

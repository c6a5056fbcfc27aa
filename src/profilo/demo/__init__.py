"""The demo dataset: Maison Lumière's customers across nine sources, with the ground truth.

``generate_demo(out_dir, customers=10_000, seed=42)`` writes a CRM export, web-shop orders, web
and app tracking (Segment messages), till receipts, e-mail events, a consent log, help-desk
tickets, survey answers and a partner's hashed-e-mail enrichment, with one source mapping per
file and ``truth.csv`` telling which person every record belongs to.
"""

from profilo.demo.generate import DemoSummary, SourceFile, generate_demo

__all__ = ["DemoSummary", "SourceFile", "generate_demo"]

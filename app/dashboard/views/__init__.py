"""Thin Panel views, one module per page; each exposes ``view(state) -> template``."""

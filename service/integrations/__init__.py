"""Adapters that plug an rmserve server into RL trainers (TRL); import only what you use."""

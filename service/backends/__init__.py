"""Backends run forward passes over batches of encoded pairs. Heavy imports live in each implementation."""

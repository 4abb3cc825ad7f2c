"""Parity between the local platform and AWS: what each call needs, and whether the templates allow it."""

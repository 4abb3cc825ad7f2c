"""Vital signs from the visit video (remote photoplethysmography)."""

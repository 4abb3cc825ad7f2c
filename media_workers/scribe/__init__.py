"""Draft clinical notes from the visit transcript, for the provider to sign."""

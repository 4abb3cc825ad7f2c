"""Patients' photos (store-and-forward): what makes one safe to show a clinician."""

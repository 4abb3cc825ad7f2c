"""The synthesized app comes from the root conftest (one synth per session)."""

"""Container workers that process visit recordings (rPPG vital signs, the scribe)."""

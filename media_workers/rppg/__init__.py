"""Vital signs from the visit video (remote photoplethysmography).

`estimate_vitals(path)` reads a recording and returns `VitalSigns`: heart and breathing rate, or
None with the reason each could not be read honestly.
"""

from media_workers.rppg.estimate import estimate_vitals
from media_workers.rppg.result import Refusal, VitalSigns, WindowEstimate
from media_workers.rppg.video import VideoError

__all__ = ["Refusal", "VideoError", "VitalSigns", "WindowEstimate", "estimate_vitals"]

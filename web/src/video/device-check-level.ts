// The microphone meter's reading, apart from the element so a unit test needs no DOM.

/** A 0-100 level from an analyser's time-domain samples (128 is silence). */
export function levelOf(samples: Uint8Array): number {
  if (samples.length === 0) return 0;
  let sum = 0;
  for (const sample of samples) {
    const centred = (sample - 128) / 128;
    sum += centred * centred;
  }
  const rms = Math.sqrt(sum / samples.length);
  if (rms === 0) return 0;
  // In decibels over the bottom 60 dB, as sound meters show it: quiet speech still moves the bar,
  // a shout fills it.
  const decibels = 20 * Math.log10(rms);
  return Math.max(0, Math.min(100, Math.round(((decibels + 60) / 60) * 100)));
}

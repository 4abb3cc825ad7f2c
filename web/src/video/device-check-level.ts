// The microphone meter's reading, apart from the element so a unit test needs no DOM.

/** A 0-100 level from an analyser's time-domain samples (128 is silence): the signal's RMS, scaled. */
export function levelOf(samples: Uint8Array): number {
  if (samples.length === 0) return 0;
  let sum = 0;
  for (const sample of samples) {
    const centred = (sample - 128) / 128;
    sum += centred * centred;
  }
  const rms = Math.sqrt(sum / samples.length);
  // Speech at a normal distance has an RMS around 0.05-0.2; scale so that fills most of the meter.
  return Math.min(100, Math.round(rms * 400));
}

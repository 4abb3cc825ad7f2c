// The video engineer's elements (`<telehealth-device-check>`, `<telehealth-call>`), each loaded
// only on the screen that shows it: the media code stays out of the portal's first download.

/** Defines `<telehealth-device-check>`; false when its code did not load (the network dropped). */
export async function loadDeviceCheck(): Promise<boolean> {
  try {
    await import("../video/device-check.ts");
    return true;
  } catch {
    return false;
  }
}

/** Defines `<telehealth-call>`; false when its code did not load. */
export async function loadCallView(): Promise<boolean> {
  try {
    await import("../video/call-view.ts");
    return true;
  } catch {
    return false;
  }
}

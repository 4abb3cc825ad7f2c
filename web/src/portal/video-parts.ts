// The video engineer's elements (`<telehealth-device-check>`, `<telehealth-call>`), each loaded
// only on the screen that shows it: the media code stays out of the portal's first download.
// Globbed rather than imported by name so the portal builds and runs (saying video is missing)
// in a tree that does not have them yet.
const parts = import.meta.glob(["../video/device-check.ts", "../video/call-view.ts"]);

async function load(path: string): Promise<boolean> {
  const importer = parts[path];
  if (!importer) return false;
  await importer();
  return true;
}

/** Defines `<telehealth-device-check>`; false when this build has none. */
export function loadDeviceCheck(): Promise<boolean> {
  return load("../video/device-check.ts");
}

/** Defines `<telehealth-call>`; false when this build has none. */
export function loadCallView(): Promise<boolean> {
  return load("../video/call-view.ts");
}

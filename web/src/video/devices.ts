// A camera or microphone that cannot be started, in words a patient can act on. Browsers name the
// reason in the error's `name` (and Chime's SDK keeps those names on its own error classes).

export function devicesInWords(error: unknown): string {
  const name = error instanceof Error || (typeof error === "object" && error !== null && "name" in error)
    ? String((error as { name: unknown }).name)
    : "";
  switch (name) {
    case "NotAllowedError":
    case "PermissionDeniedError":
    case "SecurityError":
      return "Your browser is not allowing this page to use your camera and microphone. Allow them for this site in the browser's settings, then try again.";
    case "NotFoundError":
    case "DevicesNotFoundError":
    case "OverconstrainedError":
      return "No camera or microphone was found. Connect one, then try again.";
    case "NotReadableError":
    case "TrackStartError":
    case "AbortError":
      return "Your camera or microphone is being used by another app. Close that app, then try again.";
    case "NoMediaDevices":
      return "This browser cannot use a camera or microphone on this page. Try an up-to-date Chrome, Edge, Firefox or Safari.";
    default:
      return "Your camera or microphone could not be started. Please try again.";
  }
}

/** getUserMedia, or an error named so `devicesInWords` explains it (no mediaDevices off a secure origin). */
export function getUserMedia(constraints: MediaStreamConstraints): Promise<MediaStream> {
  if (typeof navigator === "undefined" || !navigator.mediaDevices?.getUserMedia) {
    const error = new Error("navigator.mediaDevices is not available");
    error.name = "NoMediaDevices";
    return Promise.reject(error);
  }
  return navigator.mediaDevices.getUserMedia(constraints);
}

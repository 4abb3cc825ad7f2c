// The SDK plugged into the Chime session. This is the only module that imports amazon-chime-sdk-js:
// index.ts loads it with import() when config.json says "chime", so the SDK is a chunk of its own
// that only the call view fetches.
//
// UNTESTED AGAINST CHIME ITSELF (no media servers here): see docs/operations.md, "Verifying the
// Chime video in an AWS account".
import {
  ConsoleLogger,
  DefaultDeviceController,
  DefaultMeetingSession,
  LogLevel,
  MeetingSessionConfiguration,
  MeetingSessionStatusCode,
} from "amazon-chime-sdk-js";
import type { VideoSession } from "./index.ts";
import { ChimeVideoSession, type ChimeMeetingSession, type ChimePorts } from "./chime-session.ts";

// The SDK reads Node's `global` (its CSP monitor and event reporter, when a session is made),
// which webpack used to provide and Vite does not: without it the meeting session cannot be built.
(globalThis as { global?: unknown }).global ??= globalThis;

// Warnings and errors only, unless someone verifying a deployment asks this browser for more
// (docs/operations.md): the SDK's info and debug levels log the meeting's URLs, ids and signalling.
function logLevel(): LogLevel {
  let asked: string | null = null;
  try {
    asked = window.localStorage.getItem("telehealth.video.log");
  } catch {
    // storage refused (a private window's settings): the default it is
  }
  return asked === "INFO" ? LogLevel.INFO : asked === "DEBUG" ? LogLevel.DEBUG : LogLevel.WARN;
}

const sdk: ChimePorts = {
  createMeetingSession(info): ChimeMeetingSession {
    const logger = new ConsoleLogger("video", logLevel());
    const configuration = new MeetingSessionConfiguration({ Meeting: info.Meeting }, { Attendee: info.Attendee });
    return new DefaultMeetingSession(configuration, logger, new DefaultDeviceController(logger));
  },
  statusCodes: MeetingSessionStatusCode,
  createAudioElement: () => document.createElement("audio"),
};

export function createChimeVideoSession(): VideoSession {
  return new ChimeVideoSession(sdk);
}

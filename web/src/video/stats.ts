// What the call view and the browser tests read from WebRTC's statistics, the same for both
// implementations: Chime's SDK hands out its peer connection's report in the standard shape.
import type { VideoStats } from "./index.ts";

/** The entries of an `RTCStatsReport` this module reads; a report is a map of id -> entry. */
export interface StatsEntry {
  id?: string;
  type: string;
  kind?: string;
  framesDecoded?: number;
  framesSent?: number;
  bytesReceived?: number;
  currentRoundTripTime?: number;
  state?: string;
  nominated?: boolean;
  selectedCandidatePairId?: string;
}

export interface StatsReportLike {
  forEach(callback: (entry: StatsEntry) => void): void;
}

export const NO_STATS: VideoStats = { framesDecoded: 0, framesSent: 0, bytesReceived: 0, roundTripMs: null };

export function summarizeStats(report: StatsReportLike | null | undefined): VideoStats {
  if (!report) return { ...NO_STATS };
  let framesDecoded = 0;
  let framesSent = 0;
  let bytesReceived = 0;
  const pairs = new Map<string, StatsEntry>();
  let selectedPairId: string | null = null;
  report.forEach((entry) => {
    if (entry.type === "inbound-rtp") {
      bytesReceived += entry.bytesReceived ?? 0;
      if (entry.kind === "video") framesDecoded += entry.framesDecoded ?? 0;
    } else if (entry.type === "outbound-rtp" && entry.kind === "video") {
      framesSent += entry.framesSent ?? 0;
    } else if (entry.type === "candidate-pair" && entry.id) {
      pairs.set(entry.id, entry);
    } else if (entry.type === "transport" && entry.selectedCandidatePairId) {
      selectedPairId = entry.selectedCandidatePairId;
    }
  });
  // The transport names the pair in use; Firefox's report has no transport entry, so fall back to
  // the nominated pair that succeeded.
  let pair = selectedPairId ? pairs.get(selectedPairId) : undefined;
  if (!pair) pair = [...pairs.values()].find((candidate) => candidate.nominated && candidate.state === "succeeded");
  const seconds = pair?.currentRoundTripTime;
  const roundTripMs = typeof seconds === "number" ? Math.round(seconds * 1000) : null;
  return { framesDecoded, framesSent, bytesReceived, roundTripMs };
}

// Remote monitoring's words and figures for the care team: the API's shapes, how an alert's tier
// and rule read, blood pressures paired from their two readings, a series for a chart, and the
// glucose profile by hour of day (the ambulatory glucose profile's percentiles). Pure.
import type { FoundPatient } from "./patients.ts";

export type Tier = "information" | "review" | "urgent";

export interface Alert {
  alert_id: string;
  rule: string;
  tier: Tier;
  raised_at: string;
  escalated: boolean;
  note: string;
  acknowledged_at: string | null;
  acknowledgement: string | null;
  /** Urgent and unacknowledged: the providers it went to, in turn, as the clinic's settings name them. */
  handed_on: { provider_id: string; name: string | null; at: string }[];
}

export interface Enrolment {
  patient_id: string;
  program: "hypertension" | "diabetes" | "heart-failure" | "copd";
  enrolled_at: string;
  spo2_scale: "1" | "2";
  on_oxygen: boolean | null;
  glucose_targets: "most-adults" | "older-or-high-risk";
}

export interface Reading {
  code: string;
  value: number;
  unit: string;
  effective: string;
  device_id: string;
  provenance: "device" | "manual";
}

export interface Device {
  device_id: string;
  serial: string;
  kind: string;
  registered_at: string;
}

export interface PanelRow {
  patient: FoundPatient | null;
  enrolment: Enrolment;
  tier: Tier | null;
  open_alerts: Alert[];
  last_reading_at: string | null;
}

export interface PatientReadings {
  patient: FoundPatient | null;
  enrolment: Enrolment | null;
  readings: Reading[];
  alerts: Alert[];
  devices: Device[];
}

export const SYSTOLIC = "8480-6";
export const DIASTOLIC = "8462-4";
export const WEIGHT = "29463-7";
export const GLUCOSE = "99504-3";

export const PROGRAMS: Record<Enrolment["program"], string> = {
  hypertension: "Hypertension",
  diabetes: "Diabetes",
  "heart-failure": "Heart failure",
  copd: "COPD",
};

export const DEVICE_KINDS: Record<string, string> = {
  "blood-pressure-cuff": "Blood pressure cuff",
  "glucose-monitor": "Continuous glucose monitor",
  scale: "Scale",
  "pulse-oximeter": "Pulse oximeter",
  thermometer: "Thermometer",
};

const TIERS: Record<Tier, string> = { urgent: "Urgent", review: "Review", information: "Information" };

export function tierWords(tier: Tier | null): string {
  return tier ? TIERS[tier] : "No open alerts";
}

const RULES: Record<string, string> = {
  "blood-pressure-crisis": "Blood pressure at crisis level",
  news2: "NEWS2 (vital signs)",
  "heart-failure-weight": "Weight gain (heart failure)",
  "cgm-targets": "Glucose targets over 14 days",
  "no-readings": "No readings for days",
};

export function ruleWords(rule: string): string {
  return RULES[rule] ?? rule;
}

const MEASURES: Record<string, string> = {
  [SYSTOLIC]: "Systolic",
  [DIASTOLIC]: "Diastolic",
  "8867-4": "Heart rate",
  "2708-6": "Oxygen saturation",
  "59408-5": "Oxygen saturation (pulse oximeter)",
  [WEIGHT]: "Weight",
  "8310-5": "Temperature",
  "9279-1": "Breathing rate",
  [GLUCOSE]: "Glucose (CGM)",
};

export function measureWords(code: string): string {
  return MEASURES[code] ?? `LOINC ${code}`;
}

/** A UCUM unit as a person reads it. */
export function unitWords(unit: string): string {
  return ({ "mm[Hg]": "mmHg", "/min": "per minute", Cel: "°C", "%": "%", kg: "kg", "mg/dL": "mg/dL" } as Record<string, string>)[unit] ?? unit;
}

export interface BloodPressure {
  at: string;
  systolic: number;
  diastolic: number;
}

/** Each blood pressure: a systolic and a diastolic measured at the same instant, oldest first. */
export function bloodPressures(readings: Reading[]): BloodPressure[] {
  const diastolic = new Map(readings.filter((r) => r.code === DIASTOLIC).map((r) => [r.effective, r.value]));
  return readings
    .filter((r) => r.code === SYSTOLIC && diastolic.has(r.effective))
    .map((r) => ({ at: r.effective, systolic: r.value, diastolic: diastolic.get(r.effective) as number }))
    .sort((a, b) => a.at.localeCompare(b.at));
}

export interface Point {
  at: number; // epoch milliseconds
  value: number;
}

export function series(readings: Reading[], code: string): Point[] {
  return readings
    .filter((r) => r.code === code)
    .map((r) => ({ at: Date.parse(r.effective), value: r.value }))
    .sort((a, b) => a.at - b.at);
}

/** The value at `share` (0 to 1) of sorted values, interpolated between neighbours. */
export function percentile(sorted: number[], share: number): number {
  if (sorted.length === 0) return Number.NaN;
  const place = share * (sorted.length - 1);
  const low = Math.floor(place);
  const high = Math.ceil(place);
  return sorted[low] + (sorted[high] - sorted[low]) * (place - low);
}

export interface HourProfile {
  hour: number;
  p5: number;
  p25: number;
  p50: number;
  p75: number;
  p95: number;
  count: number;
}

/** The ambulatory glucose profile: each hour of the day (in `zone`), the 5th, 25th, 50th, 75th
 * and 95th percentiles of every glucose reading that fell in it. Hours without one are left out. */
export function glucoseProfile(readings: Reading[], zone: string): HourProfile[] {
  const hourOf = new Intl.DateTimeFormat("en-US", { timeZone: zone, hour: "numeric", hourCycle: "h23" });
  const byHour = new Map<number, number[]>();
  for (const r of readings) {
    if (r.code !== GLUCOSE) continue;
    const hour = Number(hourOf.format(new Date(r.effective)));
    byHour.set(hour, [...(byHour.get(hour) ?? []), r.value]);
  }
  return [...byHour.entries()]
    .sort(([a], [b]) => a - b)
    .map(([hour, values]) => {
      const sorted = [...values].sort((a, b) => a - b);
      return {
        hour,
        p5: percentile(sorted, 0.05),
        p25: percentile(sorted, 0.25),
        p50: percentile(sorted, 0.5),
        p75: percentile(sorted, 0.75),
        p95: percentile(sorted, 0.95),
        count: sorted.length,
      };
    });
}

/** A value's place on a chart's axis: `low`..`high` mapped to `size`..0 (SVG's y grows down). */
export function scaled(value: number, low: number, high: number, size: number): number {
  if (high === low) return size / 2;
  return size - ((value - low) / (high - low)) * size;
}

// --- the billing ledger ---------------------------------------------------------------------------

export interface BilledCode {
  code: string;
  units: number;
}

export interface Ledger {
  patient_id: string;
  consent: { obtained_on: string; method: "verbal" | "written"; recorded_by: string } | null;
  billing_practitioners: { starting: string; provider_id: string; name: string | null }[];
  time: { entry_id: string; on: string; minutes: number; interactive: boolean }[];
  periods: { start: string; end: string; device_days: number; codes: BilledCode[]; billing_practitioner: string | null; not_billed: string | null }[];
  months: { month: string; minutes: number; interactive: boolean; codes: BilledCode[]; billing_practitioner: string | null; not_billed: string | null }[];
}

/** "99453, 99454" ("99458 × 2" for units past one); "None" for nothing billed. */
export function codesWords(codes: BilledCode[]): string {
  return codes.length ? codes.map((c) => (c.units > 1 ? `${c.code} × ${c.units}` : c.code)).join(", ") : "None";
}

// What every portal screen shares: the shell's context, the shared styles, and the heading that
// takes focus when the screen opens (so a screen reader starts reading the new screen, and a
// keyboard user's next Tab starts from its top).
import { LitElement } from "lit";
import { property, state } from "lit/decorators.js";
import { type ActionKeys, type Api, errorWords } from "../shared/api.ts";
import type { VideoImplementation } from "../shared/config.ts";
import type { Appointment } from "../shared/appointment.ts";
import { sharedStyles } from "../shared/styles.ts";
import type { JoinInfo } from "../video/index.ts";
import { formatWhen } from "./time.ts";
import type { VisitState } from "./words.ts";

export interface PortalContext {
  api: Api;
  /** The patient's own time zone (IANA), in which every time is shown and searched. */
  zone: string;
  video: VideoImplementation;
  /** Stripe.js's URL where the clinic takes payments (the card form loads it); null where it does not. */
  stripeJs: string | null;
  /** Whether the clinic monitors readings from home (the "Your readings" screen). */
  monitoring: boolean;
  /** Whether the clinic offers the symptom check (virtual triage). */
  triage: boolean;
  /** To another screen; `notice` is said (a polite live region) on arrival. */
  navigate(hash: string, options?: { replace?: boolean; notice?: string }): void;
  /** Hand a redeemed join to the call screen; it lives in memory only. */
  startCall(appointmentId: string, info: JoinInfo): void;
  joinInfo(appointmentId: string): JoinInfo | null;
  /** The join link that came in the address, once (then it is gone). */
  takeJoinLink(): string | null;
  /** The patient's details (null: none on file yet), read once and kept; `fresh` reads them again. */
  patientDetails(fresh?: boolean): Promise<PatientDetails | null>;
  /** What the details screen saved, kept for the other screens. */
  detailsSaved(details: PatientDetails): void;
}

/** GET and PUT /v1/me/details */
export interface PatientDetails {
  patient_id: string;
  email: string | null;
  given_name: string | null;
  family_name: string | null;
  birth_date: string | null;
  home_state: string | null;
  zone: string | null;
  phone: string | null;
  complete: boolean;
  version: number;
}

/** GET /v1/slots */
export interface Slot {
  slot_id: string;
  start: string;
  end: string;
  provider: { provider_id: string; name: string; specialty: string; languages: string[] };
}

export interface SlotPage {
  slots: Slot[];
  next_cursor: string | null;
  /** What a visit of this kind costs a patient who pays for it; null: nothing to pay. */
  price: Price | null;
}

export interface Price {
  amount_minor: number;
  currency: string;
  /** The patient's share by their insurance, not the self-pay price. */
  insured: boolean;
}

export type { Appointment };

export interface LinkOut {
  link: string;
  expires_at: string;
}

export const WAITING_STATES: ReadonlySet<VisitState> = new Set(["checked-in", "admitted", "in-call"]);

export class PortalScreen extends LitElement {
  static override styles = [sharedStyles];

  @property({ attribute: false }) ctx!: PortalContext;
  /** What went wrong, in plain words, shown in the screen's `role="alert"`. */
  @state() protected error = "";

  /** Called by the shell after a route change. */
  async focusHeading(): Promise<void> {
    await this.updateComplete;
    this.renderRoot.querySelector<HTMLElement>("h1")?.focus();
  }

  /** Books a time offered on the screen (the symptom check's soonest, a clinician's ask to see the
   * patient) and goes to the visit: null, or why it could not be booked (the alert says so). */
  protected async bookOffered(slot: Slot, state: string, keys: ActionKeys): Promise<unknown> {
    const body = { slot_id: slot.slot_id, service_type: "general", state };
    try {
      const booked = await this.ctx.api.post<Appointment>("/v1/appointments", body, keys.for("book", body));
      keys.settle("book", body);
      this.ctx.navigate(`#/visits/${booked.appointment_id}`, {
        notice: `Your visit is booked for ${formatWhen(booked.start, this.ctx.zone)}.`,
      });
      return null;
    } catch (error) {
      keys.settle("book", body, error);
      await this.fail(error);
      return error;
    }
  }

  /** Says what went wrong and brings it into view (on a phone the alert may be off screen). */
  protected async fail(error: unknown): Promise<void> {
    this.error = errorWords(error);
    await this.updateComplete;
    this.renderRoot.querySelector('[role="alert"]')?.scrollIntoView({ block: "nearest" });
  }
}

// A patient's prescriptions in their words: the drug, the directions, the pharmacy (its phone a
// tap away) and where each stands. The visit's screen shows the visit's; "Send photos" shows those
// written from a case. Where the clinic prescribes online: elsewhere the route answers 404.
import { html, nothing } from "lit";
import type { Prescription } from "../shared/prescriptions.ts";
import { prescriptionWords } from "./words.ts";

/** What the portal shows of one (`/v1/me/prescriptions` answers the whole). */
export type PatientPrescription = Pick<
  Prescription,
  "prescription_id" | "appointment_id" | "case_id" | "status" | "drug" | "sig" | "quantity" | "quantity_unit" | "refills" | "pharmacy"
>;

/** The list under a heading the caller gives (a section of its own, or part of a case's card). */
export function prescriptionList(prescriptions: PatientPrescription[]) {
  return html`<ul class="plain">
    ${prescriptions.map(
      (p) => html`<li>
        <p><strong>${p.drug}</strong></p>
        <p>${p.sig}</p>
        <p>${p.quantity} ${p.quantity_unit}${p.quantity === 1 ? "" : "s"}, ${p.refills} refill${p.refills === 1 ? "" : "s"}, at ${p.pharmacy.name}, ${p.pharmacy.address}, ${p.pharmacy.city}${p.pharmacy.phone ? html` (<a href="tel:${p.pharmacy.phone}">${p.pharmacy.phone}</a>)` : nothing}.</p>
        <p><strong>${prescriptionWords(p.status)}</strong></p>
      </li>`,
    )}
  </ul>`;
}

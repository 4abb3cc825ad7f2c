// A Good Faith Estimate as the patient reads it: who it is for, the service (and, once booked, when
// and with whom), who bills and where, the expected charges and the patient's rights. One view for
// the estimate shown before booking and the one issued with the booking.
import { html, nothing } from "lit";
import { formatMoney } from "../shared/money.ts";
import { stateName } from "../shared/states.ts";
import { formatWhen } from "./time.ts";

/** GET /v1/appointments/{id}/estimate, GET /v1/estimates/preview (no booking yet: nulls). */
export interface GoodFaithEstimate {
  appointment_id: string | null;
  patient_name: string;
  patient_birth_date: string;
  primary_service: string;
  scheduled_start: string | null;
  clinician: string | null;
  billing_provider: { name: string; npi: string; tin: string };
  location_state: string;
  items: { description: string; billing_code: string | null; expected_minor: number; currency: string }[];
  total_minor: number;
  currency: string;
  issued_at: string;
  disclaimers: string[];
}

export function estimateDocument(e: GoodFaithEstimate, zone: string) {
  const born = new Intl.DateTimeFormat(undefined, { dateStyle: "long", timeZone: "UTC" }).format(
    new Date(`${e.patient_birth_date}T00:00:00Z`),
  );
  const issued = new Intl.DateTimeFormat(undefined, { dateStyle: "long", timeZone: zone }).format(new Date(e.issued_at));
  const provider = e.billing_provider;
  return html`<dl>
      <dt>For</dt><dd>${e.patient_name}, born ${born}</dd>
      <dt>Service</dt><dd>${e.primary_service}${e.scheduled_start ? `, ${formatWhen(e.scheduled_start, zone)}` : ""}</dd>
      ${e.clinician ? html`<dt>Clinician</dt><dd>${e.clinician}</dd>` : nothing}
      <dt>Billed by</dt><dd>${provider.name} (NPI ${provider.npi}, TIN ${provider.tin})</dd>
      <dt>Where</dt><dd>By video, while you are in ${stateName(e.location_state)}</dd>
      <dt>${e.appointment_id ? "Issued" : "Estimated"}</dt><dd>${issued}</dd>
    </dl>
    <table>
      <caption>Expected charges</caption>
      <thead><tr><th scope="col">Item</th><th scope="col">Service code</th><th scope="col">Expected charge</th></tr></thead>
      <tbody>
        ${e.items.map(
          (i) => html`<tr><th scope="row">${i.description}</th><td>${i.billing_code ?? "None"}</td>
            <td>${formatMoney(i.expected_minor, i.currency)}</td></tr>`,
        )}
      </tbody>
      <tfoot><tr><th scope="row" colspan="2">Total estimate</th><td>${formatMoney(e.total_minor, e.currency)}</td></tr></tfoot>
    </table>
    <p><strong>What you should know</strong></p>
    <ul>${e.disclaimers.map((line) => html`<li>${line}</li>`)}</ul>`;
}

// The patients staff find to book for (POST /v1/patients/search), and how each is named on screen.
/** POST /v1/patients/search */
export interface FoundPatient {
  patient_id: string;
  given_name: string | null;
  family_name: string | null;
  birth_date: string | null;
  home_state: string | null;
}

/** "Riley Samplecase, born April 14, 1981, lives in NY": how staff tell two patients apart. */
export function patientWords(p: FoundPatient): string {
  const name = [p.given_name, p.family_name].filter(Boolean).join(" ") || "A patient";
  const born = p.birth_date ? `, born ${birthDay(p.birth_date)}` : "";
  return `${name}${born}${p.home_state ? `, lives in ${p.home_state}` : ""}`;
}

function birthDay(day: string): string {
  const [y, m, d] = day.split("-").map(Number);
  return new Intl.DateTimeFormat("en-US", { timeZone: "UTC", year: "numeric", month: "long", day: "numeric" }).format(
    new Date(Date.UTC(y, m - 1, d)),
  );
}

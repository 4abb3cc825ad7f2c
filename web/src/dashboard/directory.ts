// The clinic's provider directory as the dashboard reads it (GET /v1/admin/providers: admins and
// staff), every page of it, and the words a person picks a provider by.

/** What the directory's row and a provider's full record both say of them. */
export interface ProviderProfile {
  provider_id: string;
  given_name: string;
  family_name: string;
  specialty: string;
  languages: string[];
  zone: string;
  version: number;
  /** Where the clinic pages them (an urgent monitoring alert handed on to them). */
  page_email?: string | null;
}

export interface ListedProvider extends ProviderProfile {
  /** Where they may see a patient now (USPS codes). */
  states_today: string[];
}

export interface DirectoryPage {
  providers: ListedProvider[];
  next_cursor: string | null;
}

export type PageReader = (query: { limit: number; cursor?: string }) => Promise<DirectoryPage>;

/** The most the API gives in one page: a clinic's roster is usually one request. */
export const PAGE_SIZE = 100;
/** Pages followed at most (2,000 providers, far past a clinic), so a cursor that never ends
 *  cannot keep the page asking. */
export const MAX_PAGES = 20;

/** Every provider, in the directory's order (family name, given name), page after page. */
export async function everyProvider(read: PageReader): Promise<ListedProvider[]> {
  const found: ListedProvider[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page += 1) {
    const answer = await read(cursor ? { limit: PAGE_SIZE, cursor } : { limit: PAGE_SIZE });
    found.push(...answer.providers);
    if (!answer.next_cursor) return found;
    cursor = answer.next_cursor;
  }
  return found;
}

/** The directory through the API. */
export function directoryOf(api: { get<T>(path: string, query?: Record<string, string | number | undefined>): Promise<T> }): PageReader {
  return (query) => api.get<DirectoryPage>("/v1/admin/providers", query);
}

export const fullName = (p: ListedProvider): string => `${p.given_name} ${p.family_name}`;

/** "family-medicine" as a person says it. */
export const specialtyWords = (specialty: string): string => specialty.replace(/-/g, " ");

export const statesWords = (p: ListedProvider): string =>
  p.states_today.length ? p.states_today.join(", ") : "None today";

/** An option in a list of providers: sorted by family name, so the family name leads. */
export function optionLabel(p: ListedProvider, patientState = ""): string {
  const label = `${p.family_name}, ${p.given_name} (${specialtyWords(p.specialty)})`;
  // Said, not hidden: a provider not licensed there today may still be on the day asked for.
  return patientState && !p.states_today.includes(patientState) ? `${label}, not licensed in ${patientState} today` : label;
}

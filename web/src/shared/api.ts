// The clinic's API as the apps call it: the bearer token, an Idempotency-Key on every change (one
// per user action, so a retry of the same click is the same request), and problem+json turned into
// words a patient understands.

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  [extension: string]: unknown;
}

/** A problem's last path segment (`/problems/slot-taken` -> `slot-taken`). */
export function problemKind(problem: Pick<Problem, "type">): string {
  return problem.type.split("/").pop() ?? problem.type;
}

// Said to a patient or a clinician in place of the API's own detail, which is written for
// integrators. A kind not listed falls back to the API's title.
const PLAIN_WORDS: Record<string, string> = {
  "slot-taken": "Someone has just booked that time. Please choose another.",
  "slot-in-the-past": "That time has already passed. Please choose another.",
  "beyond-booking-horizon": "That date is too far ahead to book yet. Please choose an earlier one.",
  "too-many-open-bookings": "You already have as many upcoming visits as the clinic allows. Cancel one to book another.",
  "provider-not-licensed": "That clinician cannot see patients in the state you are in. Please choose another.",
  "state-not-served": "The clinic does not yet see patients in that state.",
  "service-not-offered": "The clinic does not offer that kind of visit.",
  "details-incomplete":
    "The clinic needs the patient's name, date of birth and home state before booking. Patients add them under Your details.",
  "outside-cancellation-window": "It is too close to the visit to cancel or move it online. Please call the clinic.",
  "appointment-cancelled": "This visit was cancelled.",
  "appointment-closed": "This visit has already ended.",
  "appointment-started": "This visit has already started.",
  "check-in-not-open": "Check-in opens 15 minutes before your visit.",
  "check-in-closed": "Check-in for this visit has closed.",
  "already-checked-in": "You are already checked in.",
  "consent-required": "Please agree to a video visit to check in.",
  "not-checked-in": "Please check in first.",
  "link-gone": "This visit link was already used or has expired. Ask for a new one below.",
  "link-not-yours": "This visit link belongs to someone else.",
  "visit-over": "This visit has ended.",
  "same-slot": "That is the time you already have.",
  "not-waiting": "This visit is not waiting to be admitted.",
  "not-in-meeting": "There is no place for you in this visit's call yet. Please wait until you are admitted.",
  conflict: "This visit changed while you were looking at it. Please check it and try again.",
  "idempotency-key-reused": "That was already sent with other details. Please try again.",
  "request-blocked": "The clinic's system turned that request away. Please try again later or call the clinic.",
  "request-too-large": "That is more than the clinic can take at once. Please shorten it.",
  network: "We could not reach the clinic. Check your connection and try again.",
  "not-found": "We could not find that.",
  "invalid-request": "Something in the form is not right. Please check it and try again.",
  "idempotency-key-in-progress": "We are still working on your last request. Please wait a moment.",
  "too-many-requests": "Too many requests just now. Please wait a moment and try again.",
  unauthorized: "Your session has ended. Please sign in again.",
  forbidden: "You are not allowed to do that.",
  "payment-refused": "Your card was not accepted. Please try another card.",
  "payments-unavailable": "We could not reach the payment service. Please try again in a minute.",
  "card-not-saved": "Your card was not saved. Please enter it again.",
  "payment-required": "Please add a card for this visit before you check in.",
  "step-pending": "Your last payment step is still being processed. Please try again in a moment.",
};

export class ApiError extends Error {
  constructor(
    readonly problem: Problem,
    readonly plain: string,
  ) {
    super(plain);
  }

  get kind(): string {
    return problemKind(this.problem);
  }

  get status(): number {
    return this.problem.status;
  }
}

export function plainWords(problem: Problem): string {
  const kind = problemKind(problem);
  if (kind in PLAIN_WORDS) return PLAIN_WORDS[kind];
  if (problem.status === 401) return PLAIN_WORDS.unauthorized;
  if (problem.status === 403) return PLAIN_WORDS.forbidden;
  if (problem.status === 429) return PLAIN_WORDS["too-many-requests"];
  if (problem.status >= 500) return "The clinic's system did not answer as it should. Please try again in a minute.";
  return problem.title || "That did not work.";
}

export class Api {
  constructor(
    private readonly base: string,
    private readonly token: () => string | null,
    private readonly onUnauthorized: () => void = () => undefined,
  ) {}

  get<T>(path: string, query: Record<string, string | number | undefined> = {}): Promise<T> {
    const url = new URL(this.base + path);
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== "") url.searchParams.set(name, String(value));
    }
    return this.send<T>("GET", url);
  }

  /** `idempotencyKey`: one per user action (`newActionKey()`), reused when the same action is retried. */
  post<T>(path: string, body?: unknown, idempotencyKey: string = newActionKey()): Promise<T> {
    return this.send<T>("POST", new URL(this.base + path), body, idempotencyKey);
  }

  /** `idempotencyKey`: for a PUT whose route keeps its first answer (saving a card). */
  put<T>(path: string, body: unknown, idempotencyKey?: string): Promise<T> {
    return this.send<T>("PUT", new URL(this.base + path), body, idempotencyKey);
  }

  delete<T>(path: string): Promise<T> {
    return this.send<T>("DELETE", new URL(this.base + path));
  }

  private async send<T>(method: string, url: URL, body?: unknown, idempotencyKey?: string): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json" };
    const token = this.token();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit",
        cache: "no-store",
      });
    } catch {
      const problem = { type: "/problems/network", title: "No connection", status: 0 };
      throw new ApiError(problem, plainWords(problem));
    }
    const text = await response.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // A proxy's HTML error page, say: the status alone speaks for it below.
      if (response.ok) {
        const problem = { type: "/problems/unavailable", title: "Unreadable answer", status: 502 };
        throw new ApiError(problem, plainWords(problem));
      }
    }
    if (!response.ok) {
      const problem = (parsed && typeof parsed === "object" ? parsed : {}) as Problem;
      problem.status ??= response.status;
      problem.type ??= `/problems/http-${response.status}`;
      if (response.status === 401) this.onUnauthorized();
      throw new ApiError(problem, plainWords(problem));
    }
    return parsed as T;
  }
}

export function newActionKey(): string {
  return crypto.randomUUID();
}

/** What to tell a person about anything an action threw: the API's problem in plain words, or a
 *  general sentence (never a stack or the API's own detail). */
export function errorWords(error: unknown): string {
  if (error instanceof ApiError) return error.plain;
  return "Something went wrong on this page. Please try again.";
}

/**
 * One Idempotency-Key per user action. The same action with the same body, tried again after no
 * answer came (the connection dropped, or the first is still being answered), is sent under the
 * same key, so it cannot happen twice; once the API has answered, the next try is a new action.
 */
export class ActionKeys {
  private readonly keys = new Map<string, string>();

  for(action: string, body: unknown = null): string {
    const name = `${action} ${JSON.stringify(body)}`;
    let key = this.keys.get(name);
    if (!key) {
      key = newActionKey();
      this.keys.set(name, key);
    }
    return key;
  }

  /** After an attempt: keep the key only if the API gave no final answer. */
  settle(action: string, body: unknown, error?: unknown): void {
    const unanswered =
      error instanceof ApiError && (error.status === 0 || error.kind === "idempotency-key-in-progress");
    if (!unanswered) this.keys.delete(`${action} ${JSON.stringify(body)}`);
  }
}

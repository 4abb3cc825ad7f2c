// The dashboard's look, shared by its views (adopted style sheets: no inline style, CSP-safe).
import { css, html, nothing } from "lit";

export const viewStyles = css`
  :host { display: block; }
  h1 { font-size: 1.6rem; margin: 0 0 0.5rem; }
  /* The h1 takes focus so a screen reader hears where a view change arrived; it is no control. */
  h1:focus, h2[tabindex]:focus { outline: none; }
  h2 { font-size: 1.2rem; margin: 1.5rem 0 0.5rem; }
  p { margin: 0.25rem 0 0.75rem; }
  a { color: var(--accent, #0b5cad); }
  p[tabindex]:focus { outline: none; }
  section > h2:first-child, form > h2:first-child { margin-top: 0; }
  section, form.card, .card {
    background: var(--surface, #fff); border-radius: 8px; padding: 1rem; margin: 0 0 1rem;
    box-shadow: 0 1px 2px rgb(0 0 0 / 12%);
  }
  table { border-collapse: collapse; width: 100%; }
  caption { text-align: left; font-weight: 600; padding: 0 0 0.5rem; }
  th, td { text-align: left; padding: 0.5rem; border-bottom: 1px solid #c9d2dc; vertical-align: top; }
  th { font-weight: 600; }
  button, input, select, textarea { font: inherit; }
  button {
    padding: 0.45rem 0.9rem; border-radius: 6px; border: 1px solid var(--accent, #0b5cad);
    background: var(--accent, #0b5cad); color: #fff; cursor: pointer; min-height: 2.5rem;
  }
  button.secondary { background: #fff; color: var(--accent, #0b5cad); }
  button.danger { background: var(--danger, #a4262c); border-color: var(--danger, #a4262c); }
  button[disabled] { opacity: 0.6; cursor: not-allowed; }
  input, select, textarea { padding: 0.4rem; border: 1px solid #5b6b7c; border-radius: 4px; min-height: 2.25rem; }
  label { display: inline-flex; flex-direction: column; gap: 0.2rem; margin: 0 1rem 0.75rem 0; }
  label.inline { flex-direction: row; align-items: center; gap: 0.4rem; }
  fieldset { border: 1px solid #c9d2dc; border-radius: 6px; margin: 0 0 1rem; padding: 0.5rem 1rem; }
  legend { font-weight: 600; padding: 0 0.25rem; }
  .actions { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center; }
  form > .actions { margin-top: 1rem; }
  .muted { color: var(--muted, #4a5868); }
  .alert { color: var(--danger, #a4262c); font-weight: 600; }
  .ok { color: var(--ok, #17653a); }
  .badge { display: inline-block; padding: 0 0.4rem; border-radius: 4px; background: #fff4ce; color: #5c4400; }
  .visually-hidden {
    position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap;
  }
  @media (max-width: 48rem) {
    th, td { padding: 0.4rem 0.25rem; }
    label { margin-right: 0.5rem; }
  }
`;

/** Move focus to the view's h1 once it is drawn, so a screen reader hears where it arrived. */
export function focusHeading(root: ShadowRoot | null): void {
  const h1 = root?.querySelector("h1");
  if (h1) {
    h1.setAttribute("tabindex", "-1");
    h1.focus();
  }
}

/**
 * A view's error block: the words (on a conflict, `conflict`'s words: another change landed first)
 * and then a Reload button.
 */
export function errorBlock(error: string, conflict: string | null, reload: () => void) {
  if (!error) return nothing;
  return html`<div role="alert" class="alert">
    <p>${conflict ?? error}</p>
    ${conflict ? html`<button type="button" class="secondary" @click=${reload}>Reload</button>` : nothing}
  </div>`;
}

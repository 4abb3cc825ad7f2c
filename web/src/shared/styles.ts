// What every component's shadow root needs and page.css cannot give it (a document's rules do not
// reach into shadow roots; only inherited properties and the custom properties do): the focus ring,
// controls a thumb can hit (44 px, WCAG 2.5.5), alerts. Adopted as a stylesheet, so the CSP needs
// no 'unsafe-inline'.
import { css } from "lit";

export const sharedStyles = css`
  :host { color: var(--ink, #1d2733); }
  * { box-sizing: border-box; }
  :focus-visible { outline: 3px solid var(--accent, #0b5cad); outline-offset: 2px; }
  h1:focus, h1:focus-visible { outline: none; }
  h1 { font-size: 1.6rem; line-height: 1.25; margin: 0.5rem 0 1rem; }
  h2 { font-size: 1.25rem; margin: 1.5rem 0 0.5rem; }
  p { margin: 0.5rem 0; }
  a { color: var(--accent, #0b5cad); }
  button, .button {
    font: inherit; min-height: 44px; min-width: 44px; padding: 0.55rem 1.1rem;
    border-radius: 6px; border: 2px solid var(--accent, #0b5cad); cursor: pointer;
    background: var(--accent, #0b5cad); color: #fff; text-decoration: none;
    display: inline-flex; align-items: center; justify-content: center; gap: 0.4rem; white-space: nowrap;
  }
  button.secondary, .button.secondary { background: var(--surface, #fff); color: var(--accent, #0b5cad); }
  button.danger, .button.danger { background: var(--danger, #a4262c); border-color: var(--danger, #a4262c); }
  button[disabled] { opacity: 0.65; cursor: not-allowed; }
  label { display: block; font-weight: 600; margin: 1rem 0 0.25rem; }
  .hint { display: block; font-weight: 400; color: var(--muted, #4a5868); font-size: 0.95rem; }
  input, select, textarea {
    font: inherit; color: inherit; width: 100%; min-height: 44px; padding: 0.5rem 0.6rem;
    border: 1px solid #5d6b7a; border-radius: 6px; background: var(--surface, #fff);
  }
  textarea { min-height: 6rem; resize: vertical; }
  fieldset { border: 0; padding: 0; margin: 1rem 0 0; }
  legend { font-weight: 600; padding: 0; }
  label.choice { display: flex; gap: 0.5rem; align-items: center; font-weight: 400; margin: 0.5rem 0 0; }
  label.check { display: flex; gap: 0.75rem; align-items: flex-start; font-weight: 400; min-height: 44px; padding: 0.6rem 0; margin: 0.25rem 0; }
  label.choice { min-height: 44px; }
  label.check input, label.choice input { width: 1.5rem; height: 1.5rem; min-height: 0; margin: 0; flex: none; }
  a.target { display: inline-flex; align-items: center; min-height: 44px; font-weight: 600; }
  .card { background: var(--surface, #fff); border-radius: 8px; padding: 1rem; margin: 0.75rem 0; }
  .card-field { display: grid; gap: 0.5rem; margin: 0.5rem 0; }
  .actions { display: flex; flex-wrap: wrap; gap: 0.75rem; margin: 1rem 0; }
  [role="alert"] {
    border-left: 4px solid var(--danger, #a4262c); background: #fdf1f1; color: #6b1419;
    padding: 0.75rem 1rem; border-radius: 4px; margin: 0.75rem 0;
  }
  dialog { border: 0; border-radius: 8px; padding: 1.25rem; max-width: min(24rem, calc(100vw - 2rem)); color: inherit; }
  dialog::backdrop { background: rgb(0 0 0 / 0.45); }
  dialog h2 { margin-top: 0; }
  .notice { border-left: 4px solid var(--ok, #17653a); background: #eef8f1; padding: 0.75rem 1rem; border-radius: 4px; }
  .muted { color: var(--muted, #4a5868); }
  .prewrap { white-space: pre-wrap; }
  ul.plain { list-style: none; padding: 0; margin: 0; }
  .visually-hidden {
    position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden;
    clip: rect(0 0 0 0); white-space: nowrap; border: 0;
  }
`;

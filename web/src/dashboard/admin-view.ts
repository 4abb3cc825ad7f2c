// What the clinic's admin views share (admin-views.ts, admin-dea.ts): the API, what went wrong (a
// conflict: another change landed first, so the view offers Reload), what was done, and a read
// counter that redraws the form.
import { LitElement } from "lit";
import { property, state } from "lit/decorators.js";
import type { Api } from "../shared/api.ts";
import { errorBlock } from "./ui.ts";
import { isConflict, saidOf } from "./words.ts";

const CONFLICT = "Someone else changed this since you opened it. Reload to see their change, then make yours again.";

export abstract class AdminView extends LitElement {
  @property({ attribute: false }) api!: Api;
  /** Each read draws a fresh form: inputs show what was read, not what was typed before it. */
  @state() protected generation = 0;
  @state() protected error = "";
  @state() protected conflict = false;
  @state() protected said = "";

  /** A change sent with the version it read: what was said before is cleared, what goes wrong said. */
  protected async change(send: () => Promise<void>): Promise<void> {
    this.error = "";
    this.said = "";
    this.conflict = false;
    try {
      await send();
    } catch (error) {
      this.conflict = isConflict(error);
      this.error = saidOf(error);
    }
  }

  /** The error block every admin form shows: the words, and Reload on a conflict. */
  protected errors(reload: () => void) {
    return errorBlock(this.error, this.conflict ? CONFLICT : null, reload);
  }
}


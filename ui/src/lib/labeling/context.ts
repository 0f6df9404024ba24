// What a labeling screen gets from the shell around it: the item on screen (with what the
// expert had entered, when it comes back), the project, and the actions every screen shares.
import type { FeedbackKind } from '$lib/api/types/FeedbackKind';
import type { ProjectDetails } from '$lib/api/types/ProjectDetails';
import type { CommonAction } from './keys';
import type { Shown } from './session.svelte';

/** The "Show AI suggestion" switch: off when a session starts, then kept from item to item. */
export interface Assist {
  readonly show: boolean;
  set(on: boolean): void;
}

export interface SubmitOptions {
  /** An AI suggestion was on screen for this item when the verdict was given. */
  suggestionVisible?: boolean;
}

export interface LabelContext<D> {
  shown: Shown<D>;
  project: ProjectDetails;
  /** Records the judgment (the shell adds the critique, timing and shown order). */
  submit(kind: FeedbackKind, draft: D, options?: SubmitOptions): void;
  /** Undo, guidelines, critique focus, leaving a text field. `submit` is the screen's own. */
  common(action: CommonAction): void;
  assist: Assist;
}

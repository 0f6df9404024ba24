// What a labeling screen gets from the shell around it: the item on screen (with what the
// expert had entered, when it comes back), the project, and the actions every screen shares.
import type { FeedbackKind } from '$lib/api/types/FeedbackKind';
import type { ProjectDetails } from '$lib/api/types/ProjectDetails';
import type { CommonAction } from './keys';
import type { Shown } from './session.svelte';

export interface LabelContext<D> {
  shown: Shown<D>;
  project: ProjectDetails;
  /** Records the judgment (the shell adds the critique, timing and shown order). */
  submit(kind: FeedbackKind, draft: D): void;
  /** Undo, guidelines, critique focus, leaving a text field. `submit` is the screen's own. */
  common(action: CommonAction): void;
}

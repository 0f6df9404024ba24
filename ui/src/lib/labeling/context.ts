// What a labeling screen gets from the shell around it: the item on screen (with what the
// expert had entered, when it comes back), the project, and the actions every screen shares.
import type { FeedbackKind } from '$lib/api/types/FeedbackKind';
import type { ModelRef } from '$lib/api/types/ModelRef';
import type { ModelVersion } from '$lib/api/types/ModelVersion';
import type { ProjectDetails } from '$lib/api/types/ProjectDetails';
import type { ResponseId } from '$lib/api/types/ResponseId';
import type { CommonAction } from './keys';
import type { Shown } from './session.svelte';

/** The models "Suggest with" offers besides the latest reward model. */
export interface JudgeChoices {
  /** The base model folder in use ('' when none is chosen). */
  baseDir: string;
  /** The project's versions that write answers (reward models only score them). */
  versions: ModelVersion[];
}

/**
 * The "Show AI suggestion" switch: off when a session starts, then kept from item to item; and
 * "Suggest with", who suggests: the latest reward model (`judge` null, the default) or a judge
 * model, kept for the session. Choosing a judge never turns the switch on.
 */
export interface Assist {
  readonly show: boolean;
  set(on: boolean): void;
  readonly judge: ModelRef | null;
  setJudge(judge: ModelRef | null): void;
  readonly judges: JudgeChoices;
}

export interface SubmitOptions {
  /** An AI suggestion was on screen for this item when the verdict was given. */
  suggestionVisible?: boolean;
  /** The answer that suggestion preferred. */
  suggestedResponseId?: ResponseId | null;
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

// A project's settings as the "Edit settings" form holds them: the queue orders in words, the
// gold rate as a percent, the checks the server would make (so a wrong value is refused next
// to its field without a request), and the server's field names mapped to the form's inputs.
// Pure, with unit tests beside it.
import { HoneError } from './api/errors';
import type { NewProject } from './api/types/NewProject';
import type { Project } from './api/types/Project';
import type { QueueOrder } from './api/types/QueueOrder';

export interface QueueOrderOption {
  value: QueueOrder;
  label: string;
  /** One line for people who do not know the term. */
  explanation: string;
}

export const QUEUE_ORDERS: readonly QueueOrderOption[] = [
  {
    value: 'in_order',
    label: 'In order',
    explanation: 'Prompts in the order they were imported; items other annotators have started come first, so that overlap completes.',
  },
  { value: 'random', label: 'Random', explanation: 'Any open item, picked at random.' },
  {
    value: 'least_sure',
    label: 'Least sure first',
    explanation: "Items where the latest reward model can hardly tell the answers apart come first (in order until there is one).",
  },
  {
    value: 'disagreement',
    label: 'Disagreement first',
    explanation: 'Items where annotators disagree most come first; an even split stays open for a tie-breaking verdict.',
  },
];

export function queueOrderOption(value: QueueOrder): QueueOrderOption {
  return QUEUE_ORDERS.find((o) => o.value === value) ?? QUEUE_ORDERS[0];
}

/** What the form edits (everything but the name). */
export interface SettingsDraft {
  task_description: string;
  rating_min: number;
  rating_max: number;
  kto_threshold: number;
  overlap: number;
  queue_order: QueueOrder;
  /** The share of gold items in the queue, in percent (0–100). */
  gold_percent: number;
}

export type SettingsField = keyof SettingsDraft;

/** 0.1 → 10; rounded to a tenth of a percent, so that 0.07 reads 7, not 7.000000000000001. */
export function goldPercent(share: number): number {
  return Math.round(share * 1000) / 10;
}

/** 10 → 0.1 (the server takes a share between 0 and 1). */
export function goldRate(percent: number): number {
  return Math.round(percent * 10) / 1000;
}

/** The project's settings as the form starts with them. */
export function draftOf(project: Project): SettingsDraft {
  return {
    task_description: project.task_description,
    rating_min: Number(project.rating_min),
    rating_max: Number(project.rating_max),
    kto_threshold: Number(project.kto_threshold),
    overlap: Number(project.overlap),
    queue_order: project.queue_order,
    gold_percent: goldPercent(project.gold_rate),
  };
}

/**
 * What `update_project_settings` takes. The server ignores the name on an update but refuses
 * an empty one, so the project's own name goes along.
 */
export function settingsOf(draft: SettingsDraft, name: string): NewProject {
  return {
    name,
    task_description: draft.task_description.trim(),
    rating_min: draft.rating_min,
    rating_max: draft.rating_max,
    kto_threshold: draft.kto_threshold,
    overlap: draft.overlap,
    queue_order: draft.queue_order,
    gold_rate: goldRate(draft.gold_percent),
  };
}

const isInteger = (x: number) => Number.isFinite(x) && Number.isInteger(x);

/**
 * The first value the server would refuse, as the error it would give (`field` in the server's
 * names, e.g. `project.gold_rate`); null when the draft is acceptable.
 */
export function checkSettings(d: SettingsDraft): HoneError | null {
  const invalid = (field: string, message: string) => new HoneError('invalid', message, `project.${field}`);
  if (!isInteger(d.rating_min)) return invalid('rating_min', 'must be a whole number');
  if (!isInteger(d.rating_max)) return invalid('rating_max', 'must be a whole number');
  if (d.rating_min >= d.rating_max) return invalid('rating_max', `must be above the lowest rating (${d.rating_min})`);
  if (!Number.isFinite(d.kto_threshold) || d.kto_threshold < d.rating_min || d.kto_threshold > d.rating_max) {
    return invalid('kto_threshold', `must be on the rating scale ${d.rating_min}–${d.rating_max}`);
  }
  if (!isInteger(d.overlap) || d.overlap < 1) return invalid('overlap', 'must be a whole number, at least 1');
  if (!Number.isFinite(d.gold_percent) || d.gold_percent < 0 || d.gold_percent > 100) {
    return invalid('gold_rate', 'must be between 0% and 100%');
  }
  return null;
}

/** The form input a server field names (`project.gold_rate` → `gold_percent`); null when none. */
export function fieldOf(serverField: string | null | undefined): SettingsField | null {
  switch (serverField?.replace(/^(project|settings)\./, '')) {
    case 'task_description':
      return 'task_description';
    case 'rating_min':
      return 'rating_min';
    case 'rating_max':
      return 'rating_max';
    case 'kto_threshold':
      return 'kto_threshold';
    case 'overlap':
      return 'overlap';
    case 'queue_order':
      return 'queue_order';
    case 'gold_rate':
      return 'gold_percent';
    default:
      return null;
  }
}

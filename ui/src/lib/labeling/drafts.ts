// What each labeling screen keeps of the expert's input, so that an item that comes back
// (a refused save, an undo) shows it again.
import type { Mark } from './spans';

export interface PairDraft {
  strength: 1 | 2 | 3 | null;
  reason: string;
}

export interface RankDraft {
  /** Shown indices, best first. */
  order: number[];
}

export interface RatingDraft {
  scores: Record<string, number>;
  focus: number;
}

export interface EditDraft {
  text: string;
}

export interface SpanDraft {
  marks: Mark[];
}

export type ThumbsDraft = Record<string, never>;

export interface DemonstrationDraft {
  text: string;
}

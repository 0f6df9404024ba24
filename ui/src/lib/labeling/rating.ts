// Rating state changes: one score per criterion on the project's scale; the focused criterion
// takes the number keys and moves on when scored, so a rating is a run of key presses.

export type Scores = Record<string, number>;

export function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

/** One step up or down; an unscored criterion starts from the middle of the scale. */
export function stepScore(value: number | undefined, delta: number, min: number, max: number): number {
  if (value === undefined) return clamp(Math.round((min + max) / 2), min, max);
  return clamp(value + delta, min, max);
}

/** The criterion to focus after scoring `index`: the next unscored one, else the same. */
export function nextFocus(criteria: readonly string[], scores: Scores, index: number): number {
  for (let step = 1; step <= criteria.length; step++) {
    const i = (index + step) % criteria.length;
    if (scores[criteria[i]] === undefined) return i;
  }
  return index;
}

export function isComplete(criteria: readonly string[], scores: Scores): boolean {
  return criteria.length > 0 && criteria.every((c) => scores[c] !== undefined);
}

/** The scale's values, for buttons. */
export function scale(min: number, max: number): number[] {
  return Array.from({ length: Math.max(0, max - min + 1) }, (_, i) => min + i);
}

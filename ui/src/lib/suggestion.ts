// The AI suggestion in words: who suggests (the latest reward model, or a judge model), which
// answer on screen it prefers (by the label the screen gives it: A/B, answer 1…k), its scores
// with just enough decimals to tell them apart (a judge's as probabilities), and why there is
// none. Pure, with unit tests beside it.
import type { HoneError } from './api/errors';
import type { ResponseId } from './api/types/ResponseId';
import type { Suggestion } from './api/types/Suggestion';

/**
 * The scores with one number of decimals for all (2 to 6): the fewest that keep different
 * scores different and show a nonzero score as nonzero. `-0.00` reads `0.00`.
 */
export function formatScores(scores: readonly number[]): string[] {
  const fixed = (d: number) => scores.map((s) => (Number.isFinite(s) ? s.toFixed(d).replace(/^-(0\.?0*)$/, '$1') : 'n/a'));
  const distinct = new Set(scores.filter(Number.isFinite)).size;
  for (let d = 2; d <= 6; d++) {
    const out = fixed(d);
    const keepsApart = new Set(out.filter((s) => s !== 'n/a')).size === distinct;
    const showsNonzero = scores.every((s, i) => !Number.isFinite(s) || s === 0 || Number(out[i]) !== 0);
    if (keepsApart && showsNonzero) return out;
  }
  return fixed(6);
}

/** Where the preferred answer is on screen (an index into `ids`); -1 when it is not there. */
export function preferredIndex(s: Suggestion, ids: readonly ResponseId[]): number {
  return ids.findIndex((id) => Number(id) === Number(s.preferred));
}

/** Whether another answer scores as high as the preferred one: then there is no preference. */
export function isTie(s: Suggestion): boolean {
  const top = Math.max(...s.scores);
  return s.scores.filter((x) => x === top).length > 1;
}

/** A reward model's suggestion (scalar scores), or a judge model's (probabilities summing to 1). */
export function byRewardModel(s: Suggestion): boolean {
  return s.reward_model !== null && s.reward_model !== undefined;
}

/** Who suggests: "Reward model v2", or "Judge <model>" (from `source`). */
export function suggester(s: Suggestion): string {
  if (byRewardModel(s)) return `Reward model ${s.source || `#${s.reward_model}`}`;
  return s.source ? s.source.charAt(0).toUpperCase() + s.source.slice(1) : 'The judge model';
}

/** A judge's probabilities as whole percents: "81%". */
function percents(scores: readonly number[]): string[] {
  return scores.map((p) => (Number.isFinite(p) ? `${Math.round(p * 100)}%` : 'n/a'));
}

/**
 * "Reward model v2 prefers A (0.81 vs 0.12)" for a pair; for more answers every score in the
 * order shown: "Reward model v2 prefers answer 3 (answer 1: 0.20 · answer 2: 0.50 · answer 3: 0.81)".
 * A judge model's scores read as percents: "Judge qwen prefers B (73% vs 27%)".
 * `ids` and `labels` are the answers on screen, in the order shown (the order `scores` follow).
 */
export function suggestionText(s: Suggestion, ids: readonly ResponseId[], labels: readonly string[]): string {
  const model = suggester(s);
  const shown = byRewardModel(s) ? formatScores(s.scores) : percents(s.scores);
  const at = preferredIndex(s, ids);
  let scores: string;
  if (shown.length === 2 && at >= 0) {
    scores = `${shown[at]} vs ${shown[1 - at]}`;
  } else {
    scores = shown.map((x, i) => `${labels[i] ?? `#${i + 1}`}: ${x}`).join(' · ');
  }
  if (isTie(s)) return `${model} has no preference (${scores})`;
  const preferred = at >= 0 ? (labels[at] ?? `#${at + 1}`) : `response ${s.preferred}`;
  return `${model} prefers ${preferred} (${scores})`;
}

/** What the box says while the suggestion is on its way; `judge` names the judge model, if one. */
export function askingText(judge: string | null): string {
  return judge ? `Asking the judge model ${judge}…` : 'Asking the latest reward model…';
}

/** Why there is no suggestion: the server's sentence (no reward model yet, …). */
export function unavailableText(e: Pick<HoneError, 'message'>): string {
  return `No AI suggestion: ${e.message}`;
}

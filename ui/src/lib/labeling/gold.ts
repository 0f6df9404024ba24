// Which judgments can be a gold item: those with a verdict another annotator's can be compared
// with (the server's list; edits and spans have none).
import type { FeedbackKind } from '$lib/api/types/FeedbackKind';

export const GOLD_KINDS: readonly FeedbackKind['kind'][] = ['comparison', 'ranking', 'rating', 'thumbs'];

export function canBeGold(kind: FeedbackKind['kind']): boolean {
  return GOLD_KINDS.includes(kind);
}

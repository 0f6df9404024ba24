// The annotator's earlier judgments as the labeling screens use them: a recorded judgment
// turned back into the item it judged (to show it again after an undo, or to re-judge it),
// and the judgments undo may still take back after a reload.
import type { HistoryEntry } from '$lib/api/types/HistoryEntry';
import type { JudgmentDetail } from '$lib/api/types/JudgmentDetail';
import type { JudgmentId } from '$lib/api/types/JudgmentId';
import type { QueueItem } from '$lib/api/types/QueueItem';

/** The item a judgment was made on, its answers in the order they were shown. */
export function itemOfJudgment(detail: JudgmentDetail, reason: string): QueueItem {
  return {
    kind: detail.kind,
    prompt: detail.prompt,
    responses: detail.responses,
    judged_by: 0,
    overlap: 1,
    remaining: 1,
    reason,
  } as QueueItem;
}

/**
 * The judgments undo can still take back, oldest first: not replaced by a re-judgment and
 * not frozen in a dataset snapshot (the server refuses those).
 */
export function undoable(entries: readonly HistoryEntry[]): { judgmentId: JudgmentId; kind: HistoryEntry['kind'] }[] {
  return entries
    .filter((e) => e.superseded_by === null && !e.in_snapshot)
    .map((e) => ({ judgmentId: Number(e.judgment_id), kind: e.kind }))
    .reverse();
}

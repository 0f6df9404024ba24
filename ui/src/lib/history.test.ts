import { describe, expect, it } from 'vitest';
import { queryOf, verdictsOf, type HistoryFilters } from './history';
import { itemOfJudgment, undoable } from './labeling/history';
import type { HistoryEntry } from './api/types/HistoryEntry';
import type { JudgmentDetail } from './api/types/JudgmentDetail';

const none: HistoryFilters = { kind: '', verdict: '', since: '', until: '', tag: '', text: '', replaced: false, everyone: false };

describe('history filters', () => {
  it('leave empty filters out and name this annotator', () => {
    expect(queryOf(3, 'ann', none, 0, 50)).toEqual({ project_id: 3, annotator: 'ann', include_superseded: false, offset: 0, limit: 50 });
  });

  it('pass every filter, the "to" date included', () => {
    const q = queryOf(3, 'ann', { kind: 'comparison', verdict: 'tie', since: '2026-12-01', until: '2026-12-31', tag: ' billing ', text: 'seal', replaced: true, everyone: true }, 50, 50);
    expect(q).toEqual({
      project_id: 3,
      include_superseded: true,
      offset: 50,
      limit: 50,
      kind: 'comparison',
      verdict: 'tie',
      since: '2026-12-01',
      until: '2027-01-01',
      tag: 'billing',
      text: 'seal',
    });
  });

  it('offer the verdicts of the kind chosen', () => {
    expect(verdictsOf('span').map((v) => v.value)).toEqual(['accepted', 'marked']);
    expect(verdictsOf('').length).toBeGreaterThan(10);
  });
});

describe('earlier judgments', () => {
  const entry = (id: number, extra: Partial<HistoryEntry> = {}) => ({ judgment_id: id, kind: 'rating', superseded_by: null, in_snapshot: false, ...extra }) as HistoryEntry;

  it('leave out the replaced and the trained ones, oldest first', () => {
    expect(undoable([entry(9), entry(8, { in_snapshot: true }), entry(7, { superseded_by: 9 }), entry(6)])).toEqual([
      { judgmentId: 6, kind: 'rating' },
      { judgmentId: 9, kind: 'rating' },
    ]);
  });

  it('become the item they judged, answers in the order shown', () => {
    const detail = { kind: 'comparison', prompt: { id: 1, text: 'p' }, responses: [{ id: 5 }, { id: 4 }] } as unknown as JudgmentDetail;
    const item = itemOfJudgment(detail, 'why');
    expect(item.responses.map((r) => r.id)).toEqual([5, 4]);
    expect(item.reason).toBe('why');
    expect(item.kind).toBe('comparison');
  });
});

// The History screen's filters: which verdicts each kind can have (the server's one-word
// verdicts), and the filters as the query judgment_history takes.
import type { HistoryQuery } from './api/types/HistoryQuery';
import type { JudgmentKind } from './api/types/JudgmentKind';
import type { ProjectId } from './api/types/ProjectId';

export const HISTORY_KINDS: JudgmentKind[] = ['comparison', 'ranking', 'rating', 'edit', 'span', 'thumbs', 'demonstration', 'critique'];

export interface HistoryFilters {
  kind: JudgmentKind | '';
  verdict: string;
  /** `YYYY-MM-DD` or ''. */
  since: string;
  until: string;
  tag: string;
  text: string;
  /** Show judgments a re-judgment replaced. */
  replaced: boolean;
  /** Everyone's judgments, not only this annotator's. */
  everyone: boolean;
}

const VERDICTS: { value: string; label: string; kinds: JudgmentKind[] }[] = [
  { value: 'a', label: 'first answer better', kinds: ['comparison'] },
  { value: 'b', label: 'second answer better', kinds: ['comparison'] },
  { value: 'tie', label: 'tie', kinds: ['comparison'] },
  { value: 'both_bad', label: 'both bad', kinds: ['comparison'] },
  { value: 'ranked', label: 'ranked', kinds: ['ranking'] },
  { value: 'rated', label: 'rated', kinds: ['rating'] },
  { value: 'edited', label: 'corrected', kinds: ['edit'] },
  { value: 'accepted', label: 'accepted as it is', kinds: ['edit', 'span'] },
  { value: 'marked', label: 'errors marked', kinds: ['span'] },
  { value: 'up', label: 'thumbs up', kinds: ['thumbs'] },
  { value: 'down', label: 'thumbs down', kinds: ['thumbs'] },
  { value: 'written', label: 'written', kinds: ['demonstration'] },
  { value: 'critique', label: 'critique', kinds: ['critique'] },
];

/** The verdicts a kind can have (every verdict for all kinds). */
export function verdictsOf(kind: JudgmentKind | ''): { value: string; label: string }[] {
  return VERDICTS.filter((v) => kind === '' || v.kinds.includes(kind)).map(({ value, label }) => ({ value, label }));
}

/** The filters as judgment_history's query; empty filters are left out. */
export function queryOf(projectId: ProjectId, annotator: string, f: HistoryFilters, offset: number, limit: number): HistoryQuery {
  const query: HistoryQuery = { project_id: projectId, include_superseded: f.replaced, offset, limit };
  if (!f.everyone) query.annotator = annotator;
  if (f.kind) query.kind = f.kind;
  if (f.verdict) query.verdict = f.verdict;
  if (f.since) query.since = f.since;
  // "To" a date includes that day.
  if (f.until) query.until = nextDay(f.until);
  if (f.tag.trim()) query.tag = f.tag.trim();
  if (f.text.trim()) query.text = f.text.trim();
  return query;
}

function nextDay(date: string): string {
  const d = new Date(`${date}T00:00:00Z`);
  if (Number.isNaN(d.getTime())) return date;
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}

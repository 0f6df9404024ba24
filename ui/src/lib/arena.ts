// How arena results read: "a wins 72% of decided rounds (95% interval 55–85%), 18–7, 3 ties".
// Ties are left out of the rate, as the server computes it; the interval is its Wilson interval.
import type { ArenaResults } from './api/types/ArenaResults';

export function percent(x: number): string {
  return `${Math.round(x * 100)}%`;
}

export interface ArenaSummary {
  /** The headline figure, or a dash when nothing was decided yet. */
  rate: string;
  /** The 95% interval, or an empty string. */
  interval: string;
  record: string;
  /** Shown when the evidence is thin or one-sided enough to say so. */
  verdict: string;
}

export function summarize(r: ArenaResults, aName: string, bName: string): ArenaSummary {
  const { wins, ties, losses } = r.results;
  const w = Number(wins);
  const l = Number(losses);
  const t = Number(ties);
  const record = `${w} win${w === 1 ? '' : 's'}, ${t} tie${t === 1 ? '' : 's'}, ${l} loss${l === 1 ? '' : 'es'}`;
  if (r.win_rate === null || r.win_rate === undefined) {
    return { rate: '—', interval: '', record, verdict: w + l + t === 0 ? 'No rounds judged yet.' : 'Only ties so far.' };
  }
  const interval = r.interval95 ? `95% interval ${percent(r.interval95[0])}–${percent(r.interval95[1])}` : '';
  let verdict: string;
  if (r.interval95 && r.interval95[0] > 0.5) verdict = `${aName} is better than ${bName}.`;
  else if (r.interval95 && r.interval95[1] < 0.5) verdict = `${bName} is better than ${aName}.`;
  else verdict = 'Not yet clear: the interval includes 50%.';
  return { rate: percent(r.win_rate), interval, record, verdict };
}

/** Where the interval and the rate sit on a 0–100% bar, for the small chart beside the numbers. */
export function intervalBar(r: ArenaResults): { left: number; width: number; mark: number } | null {
  if (r.win_rate === null || r.win_rate === undefined || !r.interval95) return null;
  const [lo, hi] = r.interval95;
  return { left: lo * 100, width: Math.max(0, hi - lo) * 100, mark: r.win_rate * 100 };
}

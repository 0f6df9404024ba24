// How the trust views read: a version's evaluation as label/value rows, head-to-head counts with
// the win-rate and Wilson interval the core computed (hone-core's head_to_head.rs), and the
// annotator report's figures. Pure, with unit tests beside it.
import type { AnnotatorProfile } from './api/types/AnnotatorProfile';
import type { Estimate } from './api/types/Estimate';
import type { HeadToHead } from './api/types/HeadToHead';
import type { JudgmentKind } from './api/types/JudgmentKind';
import type { VersionEvaluation } from './api/types/VersionEvaluation';

export const NA = 'n/a';

export function pct(x: number, digits = 0): string {
  return `${(x * 100).toFixed(digits)}%`;
}

/** "80% (95% CI 49–94%), 8–2, 1 tie", ties left out of the rate; n/a when nothing was decided. */
export function headToHead(h: HeadToHead | null | undefined): string {
  if (!h) return NA;
  const w = Number(h.wins);
  const l = Number(h.losses);
  const t = Number(h.ties);
  const ties = t > 0 ? `, ${t} tie${t === 1 ? '' : 's'}` : '';
  if (w + l === 0) return t > 0 ? `${NA} (${t} tie${t === 1 ? '' : 's'})` : NA;
  // Reports stored before the core wrote the rate carry only the counts.
  const ci = h.interval95;
  if (h.win_rate == null || ci == null) return `${w}–${l}${ties}`;
  return `${pct(h.win_rate)} (95% CI ${pct(ci[0])}–${pct(ci[1])}), ${w}–${l}${ties}`;
}

export function num(x: number | null | undefined, digits = 4): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return NA;
  return Number.isInteger(x) ? String(x) : x.toPrecision(digits);
}

/** "1.234 ± 0.05 (n 12)"; "1.234 (n 1)" without an interval; n/a for null. */
export function estimate(e: Estimate | null | undefined, signed = false): string {
  if (!e) return NA;
  const mean = `${signed && e.mean > 0 ? '+' : ''}${num(e.mean)}`;
  return e.half_width95 === null ? `${mean} (n ${e.n})` : `${mean} ± ${num(e.half_width95, 2)} (n ${e.n})`;
}

export interface Row {
  label: string;
  value: string;
}

/** A version's evaluation as the rows of a small table; n/a wherever a measure is missing. */
export function evaluationRows(e: VersionEvaluation): Row[] {
  const arena = e.arena_versus_parent;
  let arenaText = NA;
  if (arena) {
    const r = arena.results;
    const base = `${Number(r.wins)}–${Number(r.losses)}, ${Number(r.ties)} ties`;
    arenaText =
      arena.win_rate === null
        ? `${NA} (${base})`
        : `${pct(arena.win_rate)}${arena.interval95 ? ` (95% CI ${pct(arena.interval95[0])}–${pct(arena.interval95[1])})` : ''}, ${base}`;
  }
  return [
    { label: 'Compared with', value: e.against },
    { label: 'Held-out prompts', value: String(e.held_out_prompts) },
    { label: 'Preference accuracy', value: headToHead(e.preference_accuracy) },
    { label: 'Completion loss', value: estimate(e.completion_loss) },
    { label: 'Parent completion loss', value: estimate(e.parent_completion_loss) },
    { label: 'Change vs parent', value: estimate(e.completion_loss_change, true) },
    { label: 'KL to base', value: num(e.kl_to_base) },
    {
      label: 'Win-rate vs parent',
      value: e.versus_parent ? `${headToHead(e.versus_parent)}${e.judged_by !== null ? ` (reward model #${e.judged_by})` : ''}` : NA,
    },
    { label: 'Arena vs parent', value: arenaText },
  ];
}

/** The stored evaluation in a version's metrics (`eval/report`), when there is one. */
export function storedEvaluation(metrics: unknown): VersionEvaluation | null {
  if (!metrics || typeof metrics !== 'object' || Array.isArray(metrics)) return null;
  const report = (metrics as Record<string, unknown>)['eval/report'];
  if (!report || typeof report !== 'object' || Array.isArray(report)) return null;
  return 'version_id' in report && 'against' in report ? (report as VersionEvaluation) : null;
}

/** A position bias worth flagging: significant at the 5% level. */
export function significant(p: number | null | undefined): boolean {
  return p !== null && p !== undefined && Number.isFinite(p) && p < 0.05;
}

export function pValue(p: number | null | undefined): string {
  if (p === null || p === undefined || !Number.isFinite(p)) return NA;
  return p < 0.001 ? '< 0.001' : p.toFixed(3);
}

/** "67% of 12", or n/a. */
export function shareOf(share: number | null | undefined, n: number): string {
  return share === null || share === undefined ? NA : `${pct(share)} of ${n}`;
}

export interface ProfileCells {
  withMajority: string;
  position: string;
  p: string;
  flagged: boolean;
  length: string;
  seconds: string;
  /** Agreement with the gold answers: "80% of 5". */
  gold: string;
  /** Decided comparisons that went the reward model's way with its suggestion shown, and hidden. */
  aiShown: string;
  aiHidden: string;
  /** The two-proportion test of shown against hidden, and whether it is significant. */
  aiP: string;
  aiFlagged: boolean;
}

/** The annotator report's row for one profile. */
export function profileCells(a: AnnotatorProfile): ProfileCells {
  return {
    withMajority: shareOf(a.with_majority, a.majority_units),
    position: shareOf(a.position.first_share, a.position.decided),
    p: pValue(a.position.p_value),
    flagged: significant(a.position.p_value),
    length: `${shareOf(a.length.longer_share, a.length.decided)}${a.length.correlation === null ? '' : `, r ${a.length.correlation.toFixed(2)}`}`,
    seconds: a.median_seconds === null ? NA : a.median_seconds.toFixed(1),
    gold: shareOf(a.gold.share, a.gold.items),
    aiShown: shareOf(a.suggestion.shown_share, a.suggestion.shown),
    aiHidden: shareOf(a.suggestion.hidden_share, a.suggestion.hidden),
    aiP: pValue(a.suggestion.p_value),
    aiFlagged: significant(a.suggestion.p_value),
  };
}

/** What a pair's agreement is measured on, and which α: nominal for verdicts, interval for scores. */
export function pairKind(kind: JudgmentKind): { label: string; alpha: string } {
  switch (kind) {
    case 'comparison':
      return { label: 'Comparisons', alpha: 'nominal' };
    case 'rating':
      return { label: 'Ratings', alpha: 'interval' };
    default:
      return { label: kind, alpha: 'nominal' };
  }
}

/** Comparisons first, then ratings; within a kind as the server listed them. */
export function byPairKind<T extends { kind: JudgmentKind }>(pairs: readonly T[]): T[] {
  const rank = (k: JudgmentKind) => (k === 'comparison' ? 0 : k === 'rating' ? 1 : 2);
  return pairs.map((p, i) => ({ p, i })).sort((x, y) => rank(x.p.kind) - rank(y.p.kind) || x.i - y.i).map(({ p }) => p);
}

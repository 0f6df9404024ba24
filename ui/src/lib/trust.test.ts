import { describe, expect, it } from 'vitest';
import type { AnnotatorProfile } from './api/types/AnnotatorProfile';
import type { VersionEvaluation } from './api/types/VersionEvaluation';
import { byPairKind, estimate, evaluationRows, headToHead, NA, pairKind, profileCells, significant, storedEvaluation } from './trust';

const empty: VersionEvaluation = {
  version_id: 2,
  against: 'base',
  held_out_prompts: 0,
  preference_accuracy: null,
  completion_loss: null,
  parent_completion_loss: null,
  completion_loss_change: null,
  kl_to_base: null,
  versus_parent: null,
  judged_by: null,
  arena_versus_parent: null,
};

describe('evaluationRows', () => {
  it('prints n/a for every missing measure', () => {
    const rows = evaluationRows(empty);
    const byLabel = Object.fromEntries(rows.map((r) => [r.label, r.value]));
    expect(byLabel['Compared with']).toBe('base');
    for (const l of ['Preference accuracy', 'Completion loss', 'Change vs parent', 'KL to base', 'Win-rate vs parent', 'Arena vs parent']) {
      expect(byLabel[l]).toBe(NA);
    }
  });
  it('formats rates with their interval, estimates with their half-width', () => {
    const rows = evaluationRows({
      ...empty,
      against: 'v1',
      preference_accuracy: { wins: 8, ties: 1, losses: 2, win_rate: 0.8, interval95: [0.490162, 0.943317] },
      completion_loss: { mean: 1.5, half_width95: 0.125, n: 10 },
      completion_loss_change: { mean: 0.25, half_width95: 0.1, n: 10 },
      kl_to_base: 0.03125,
      versus_parent: { wins: 3, ties: 0, losses: 1, win_rate: 0.75, interval95: [0.300636, 0.954414] },
      judged_by: 7,
    });
    const byLabel = Object.fromEntries(rows.map((r) => [r.label, r.value]));
    expect(byLabel['Preference accuracy']).toBe('80% (95% CI 49%–94%), 8–2, 1 tie');
    expect(byLabel['Completion loss']).toBe('1.500 ± 0.13 (n 10)');
    expect(byLabel['Change vs parent']).toMatch(/^\+0\.2500 ± /);
    expect(byLabel['KL to base']).toBe('0.03125');
    expect(byLabel['Win-rate vs parent']).toContain('reward model #7');
  });
  it('reads only ties as n/a', () => {
    expect(headToHead({ wins: 0, ties: 2, losses: 0, win_rate: null, interval95: null })).toBe('n/a (2 ties)');
  });
  it('shows the counts alone from a report stored before the core wrote the rate', () => {
    const old = { wins: 8, ties: 1, losses: 2 } as unknown as Parameters<typeof headToHead>[0];
    expect(headToHead(old)).toBe('8–2, 1 tie');
  });
});

describe('estimate', () => {
  it('shows the interval, or none from a single value', () => {
    expect(estimate({ mean: 1.5, half_width95: 0.125, n: 10 })).toBe('1.500 ± 0.13 (n 10)');
    expect(estimate({ mean: 0.25, half_width95: null, n: 1 }, true)).toBe('+0.2500 (n 1)');
    expect(estimate(null)).toBe(NA);
  });
});

describe('storedEvaluation', () => {
  it('finds eval/report in the metrics', () => {
    expect(storedEvaluation({ 'eval/report': empty, 'dpo/loss': 0.3 })).toEqual(empty);
    expect(storedEvaluation({ 'dpo/loss': 0.3 })).toBeNull();
    expect(storedEvaluation(null)).toBeNull();
  });
});

describe('position bias highlight', () => {
  it('flags p below 0.05 only', () => {
    expect(significant(0.01)).toBe(true);
    expect(significant(0.05)).toBe(false);
    expect(significant(0.2)).toBe(false);
    expect(significant(null)).toBe(false);
  });
  it('builds the row cells', () => {
    const a: AnnotatorProfile = {
      name: 'ann',
      judgments: 12,
      with_majority: 0.75,
      majority_units: 8,
      position: { decided: 10, first_wins: 9, first_share: 0.9, p_value: 0.0216 },
      length: { decided: 10, longer_wins: 6, longer_share: 0.6, correlation: 0.123 },
      median_seconds: null,
      gold: { items: 5, agree: 4, share: 0.8 },
      suggestion: { shown: 4, shown_agree: 4, hidden: 20, hidden_agree: 6, shown_share: 1, hidden_share: 0.3, p_value: 0.0094 },
      skips: 0,
      flags: 0,
    };
    const c = profileCells(a);
    expect(c.withMajority).toBe('75% of 8');
    expect(c.position).toBe('90% of 10');
    expect(c.p).toBe('0.022');
    expect(c.flagged).toBe(true);
    expect(c.length).toBe('60% of 10, r 0.12');
    expect(c.seconds).toBe(NA);
    expect(c.gold).toBe('80% of 5');
    expect(c.aiShown).toBe('100% of 4');
    expect(c.aiHidden).toBe('30% of 20');
    expect(c.aiP).toBe('0.009');
    expect(c.aiFlagged).toBe(true);
  });
  it('reads missing gold and suggestion figures as n/a', () => {
    const a = {
      name: 'new',
      judgments: 1,
      with_majority: null,
      majority_units: 0,
      position: { decided: 0, first_wins: 0, first_share: null, p_value: null },
      length: { decided: 0, longer_wins: 0, longer_share: null, correlation: null },
      median_seconds: 2,
      gold: { items: 0, agree: 0, share: null },
      suggestion: { shown: 0, shown_agree: 0, hidden: 1, hidden_agree: 0, shown_share: null, hidden_share: 0, p_value: null },
    } as unknown as AnnotatorProfile;
    const c = profileCells(a);
    expect(c.gold).toBe(NA);
    expect(c.aiShown).toBe(NA);
    expect(c.aiHidden).toBe('0% of 1');
    expect(c.aiP).toBe(NA);
    expect(c.aiFlagged).toBe(false);
  });
});

describe('pair agreement by kind', () => {
  it('names the kind and its α', () => {
    expect(pairKind('comparison')).toEqual({ label: 'Comparisons', alpha: 'nominal' });
    expect(pairKind('rating')).toEqual({ label: 'Ratings', alpha: 'interval' });
  });
  it('puts comparisons before ratings, keeping the order within a kind', () => {
    const pairs = [
      { kind: 'rating' as const, a: 'x', b: 'y' },
      { kind: 'comparison' as const, a: 'x', b: 'z' },
      { kind: 'rating' as const, a: 'x', b: 'z' },
      { kind: 'comparison' as const, a: 'x', b: 'y' },
    ];
    expect(byPairKind(pairs).map((p) => `${p.kind}:${p.b}`)).toEqual(['comparison:z', 'comparison:y', 'rating:y', 'rating:z']);
  });
});

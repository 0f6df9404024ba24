import { describe, expect, it } from 'vitest';
import type { AnnotatorProfile } from './api/types/AnnotatorProfile';
import type { VersionEvaluation } from './api/types/VersionEvaluation';
import { evaluationRows, headToHead, NA, profileCells, significant, storedEvaluation, wilson95 } from './trust';

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

describe('wilson95', () => {
  it('gives 0.490–0.943 for 8 wins and 2 losses', () => {
    const [lo, hi] = wilson95(8, 2)!;
    expect(lo).toBeCloseTo(0.49, 3);
    expect(hi).toBeCloseTo(0.943, 3);
  });
  it('stays within 0–1 at the extremes', () => {
    const [lo, hi] = wilson95(5, 0)!;
    expect(lo).toBeGreaterThan(0.5);
    expect(hi).toBe(1);
    expect(wilson95(0, 3)![0]).toBeCloseTo(0, 12);
  });
  it('is null with nothing decided', () => {
    expect(wilson95(0, 0)).toBeNull();
  });
});

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
      preference_accuracy: { wins: 8, ties: 1, losses: 2 },
      completion_loss: { mean: 1.5, half_width95: 0.125, n: 10 },
      completion_loss_change: { mean: 0.25, half_width95: 0.1, n: 10 },
      kl_to_base: 0.03125,
      versus_parent: { wins: 3, ties: 0, losses: 1 },
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
    expect(headToHead({ wins: 0, ties: 2, losses: 0 })).toBe('n/a (2 ties)');
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
    };
    const c = profileCells(a);
    expect(c.withMajority).toBe('75% of 8');
    expect(c.position).toBe('90% of 10');
    expect(c.p).toBe('0.022');
    expect(c.flagged).toBe(true);
    expect(c.length).toBe('60% of 10, r 0.12');
    expect(c.seconds).toBe(NA);
  });
});

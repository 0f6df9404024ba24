import { describe, expect, it } from 'vitest';
import { HoneError } from './api/errors';
import type { Suggestion } from './api/types/Suggestion';
import { askingText, formatScores, isTie, preferredIndex, suggester, suggestionText, unavailableText } from './suggestion';

const pair = (scores: number[], preferred: number): Suggestion => ({ source: 'rm-2', reward_model: 4, scores, preferred });

describe('formatScores', () => {
  it('uses two decimals when they tell the scores apart', () => {
    expect(formatScores([0.812, 0.1234])).toEqual(['0.81', '0.12']);
    expect(formatScores([2.5, -1.25])).toEqual(['2.50', '-1.25']);
  });
  it('adds decimals until different scores read differently', () => {
    expect(formatScores([0.000634, 0.00226])).toEqual(['0.001', '0.002']);
    expect(formatScores([0.5012, 0.5049])).toEqual(['0.501', '0.505']);
  });
  it('shows equal scores equal, and no negative zero', () => {
    expect(formatScores([0.5, 0.5])).toEqual(['0.50', '0.50']);
    expect(formatScores([-0.001, 0.3])).toEqual(['-0.001', '0.300']);
    expect(formatScores([0, 0.3])).toEqual(['0.00', '0.30']);
  });
});

describe('preferredIndex and isTie', () => {
  it('finds the preferred answer among those on screen', () => {
    expect(preferredIndex(pair([0.1, 0.9], 12), [11, 12])).toBe(1);
    expect(preferredIndex(pair([0.1, 0.9], 99), [11, 12])).toBe(-1);
  });
  it('calls equal top scores a tie', () => {
    expect(isTie(pair([0.5, 0.5], 11))).toBe(true);
    expect(isTie(pair([0.5, 0.4], 11))).toBe(false);
  });
});

describe('suggestionText', () => {
  it('names the preferred side of a pair by its label, its score first', () => {
    expect(suggestionText(pair([0.12, 0.81], 8), [7, 8], ['A', 'B'])).toBe('Reward model rm-2 prefers B (0.81 vs 0.12)');
    expect(suggestionText(pair([0.81, 0.12], 7), [7, 8], ['A', 'B'])).toBe('Reward model rm-2 prefers A (0.81 vs 0.12)');
  });
  it('lists every score of a ranking in the order shown', () => {
    const s: Suggestion = { source: 'v2', reward_model: 4, scores: [0.2, 0.5, 0.81], preferred: 3 };
    expect(suggestionText(s, [1, 2, 3], ['answer 1', 'answer 2', 'answer 3'])).toBe(
      'Reward model v2 prefers answer 3 (answer 1: 0.20 · answer 2: 0.50 · answer 3: 0.81)',
    );
  });
  it('says there is no preference when the best scores are equal', () => {
    expect(suggestionText(pair([0.5, 0.5], 7), [7, 8], ['A', 'B'])).toBe('Reward model rm-2 has no preference (0.50 vs 0.50)');
  });
  it('falls back to the response id when the preferred answer is not on screen', () => {
    expect(suggestionText(pair([0.9, 0.1], 42), [7, 8], ['A', 'B'])).toBe('Reward model rm-2 prefers response 42 (A: 0.90 · B: 0.10)');
  });
});

describe('suggester', () => {
  it('names the reward model, or the judge model', () => {
    expect(suggester(pair([0.1, 0.2], 1))).toBe('Reward model rm-2');
    expect(suggester({ source: 'judge qwen-0.5b', reward_model: null, scores: [0.3, 0.7], preferred: 2 })).toBe('Judge qwen-0.5b');
  });
  it("gives a judge's probabilities as percents", () => {
    const judged: Suggestion = { source: 'judge qwen', reward_model: null, scores: [0.27, 0.73], preferred: 2 };
    expect(suggestionText(judged, [1, 2], ['A', 'B'])).toBe('Judge qwen prefers B (73% vs 27%)');
  });
});

describe('askingText', () => {
  it('names who is being asked', () => {
    expect(askingText(null)).toBe('Asking the latest reward model…');
    expect(askingText('tiny')).toBe('Asking the judge model tiny…');
  });
});

describe('unavailableText', () => {
  it("gives the server's sentence", () => {
    const e = new HoneError('invalid', 'invalid project: has no reward model yet: train one (method rm) to get suggestions', 'project');
    expect(unavailableText(e)).toBe('No AI suggestion: invalid project: has no reward model yet: train one (method rm) to get suggestions');
  });
});

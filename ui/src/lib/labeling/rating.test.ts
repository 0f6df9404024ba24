import { describe, expect, it } from 'vitest';
import { isComplete, nextFocus, scale, stepScore } from './rating';

describe('rating', () => {
  it('steps within the scale, starting unscored criteria in the middle', () => {
    expect(stepScore(undefined, 1, 1, 7)).toBe(4);
    expect(stepScore(7, 1, 1, 7)).toBe(7);
    expect(stepScore(1, -1, 1, 7)).toBe(1);
    expect(stepScore(3, 1, 1, 7)).toBe(4);
  });

  it('moves focus to the next unscored criterion, wrapping around', () => {
    const criteria = ['correctness', 'tone', 'length'];
    expect(nextFocus(criteria, { correctness: 5 }, 0)).toBe(1);
    expect(nextFocus(criteria, { tone: 2, length: 3 }, 2)).toBe(0);
    expect(nextFocus(criteria, { correctness: 1, tone: 2, length: 3 }, 1)).toBe(1);
  });

  it('is complete when every criterion has a score', () => {
    expect(isComplete(['a', 'b'], { a: 1 })).toBe(false);
    expect(isComplete(['a', 'b'], { a: 1, b: 0 })).toBe(true);
    expect(isComplete([], {})).toBe(false);
  });

  it('lists the scale', () => {
    expect(scale(1, 5)).toEqual([1, 2, 3, 4, 5]);
    expect(scale(0, 2)).toEqual([0, 1, 2]);
  });
});

import { describe, expect, it } from 'vitest';
import { move, pick, rankedIds, ranksByShown, unpick } from './ranking';

describe('ranking by picks', () => {
  it('appends picks and places the last remaining response by itself', () => {
    let order = pick([], 2, 4);
    expect(order).toEqual([2]);
    order = pick(order, 0, 4);
    expect(order).toEqual([2, 0]);
    order = pick(order, 3, 4);
    expect(order).toEqual([2, 0, 3, 1]);
  });

  it('ignores a response already picked or out of range', () => {
    expect(pick([1], 1, 3)).toEqual([1]);
    expect(pick([1], 5, 3)).toEqual([1]);
  });

  it('takes back the automatic last place together with the pick that caused it', () => {
    expect(unpick([2, 0, 3, 1], 4)).toEqual([2, 0]);
    expect(unpick([2, 0], 4)).toEqual([2]);
    expect(unpick([], 4)).toEqual([]);
  });

  it('moves entries for drag and drop', () => {
    expect(move([0, 1, 2], 2, 0)).toEqual([2, 0, 1]);
    expect(move([0, 1, 2], 0, 2)).toEqual([1, 2, 0]);
    expect(move([0, 1, 2], 0, 7)).toEqual([0, 1, 2]);
  });

  it('gives response ids best first only when complete', () => {
    expect(rankedIds([1, 2, 0], [10, 20, 30])).toEqual([20, 30, 10]);
    expect(rankedIds([1], [10, 20, 30])).toBeNull();
  });

  it('reports each shown response its rank', () => {
    expect(ranksByShown([2, 0], 3)).toEqual([2, null, 1]);
  });
});

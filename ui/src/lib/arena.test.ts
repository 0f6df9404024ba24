import { describe, expect, it } from 'vitest';
import type { ArenaResults } from './api/types/ArenaResults';
import { intervalBar, summarize } from './arena';

const results = (wins: number, ties: number, losses: number, rate: number | null, interval: [number, number] | null) =>
  ({ results: { wins, ties, losses }, win_rate: rate, interval95: interval }) as ArenaResults;

describe('arena summary', () => {
  it('shows the win-rate with its interval and the record', () => {
    const s = summarize(results(8, 5, 2, 0.8, [0.490162, 0.943317]), 'v1', 'base');
    expect(s.rate).toBe('80%');
    expect(s.interval).toBe('95% interval 49%–94%');
    expect(s.record).toBe('8 wins, 5 ties, 2 losses');
    expect(s.verdict).toBe('Not yet clear: the interval includes 50%.');
  });

  it('names the better model once the interval leaves 50%', () => {
    expect(summarize(results(67, 14, 15, 0.817, [0.72, 0.89]), 'v1', 'base').verdict).toBe('v1 is better than base.');
    expect(summarize(results(2, 0, 30, 0.0625, [0.02, 0.2]), 'v1', 'base').verdict).toBe('base is better than v1.');
  });

  it('shows a dash before anything was decided', () => {
    expect(summarize(results(0, 0, 0, null, null), 'a', 'b')).toEqual({ rate: '—', interval: '', record: '0 wins, 0 ties, 0 losses', verdict: 'No rounds judged yet.' });
    expect(summarize(results(0, 3, 0, null, null), 'a', 'b').verdict).toBe('Only ties so far.');
    expect(summarize(results(1, 0, 0, 1, [0.2, 1]), 'a', 'b').record).toBe('1 win, 0 ties, 0 losses');
  });

  it('places the interval bar in percent', () => {
    expect(intervalBar(results(8, 5, 2, 0.8, [0.5, 0.9]))).toEqual({ left: 50, width: 40, mark: 80 });
    expect(intervalBar(results(0, 0, 0, null, null))).toBeNull();
  });
});

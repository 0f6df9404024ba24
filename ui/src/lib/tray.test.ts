import { describe, expect, it } from 'vitest';
import { etaSeconds, formatDuration, sparkline } from './tray.svelte';

describe('job tray', () => {
  it('estimates the time left from the rate so far', () => {
    expect(etaSeconds(10, 40, 20_000)).toBe(60);
    expect(etaSeconds(0, 40, 20_000)).toBeNull();
    expect(etaSeconds(40, 40, 20_000)).toBeNull();
  });

  it('says durations in words', () => {
    expect(formatDuration(0.2)).toBe('1 s');
    expect(formatDuration(42)).toBe('42 s');
    expect(formatDuration(185)).toBe('3 min');
    expect(formatDuration(3900)).toBe('1 h 5 min');
  });

  it('draws the loss falling from top left to bottom right', () => {
    expect(sparkline([2, 1, 0], 100, 10)).toBe('0.0,0.0 50.0,5.0 100.0,10.0');
    expect(sparkline([1], 100, 10)).toBe('');
    expect(sparkline([1, Number.NaN, 1], 100, 10)).toBe('0.0,10.0 100.0,10.0'); // NaN left out, a flat line
  });
});

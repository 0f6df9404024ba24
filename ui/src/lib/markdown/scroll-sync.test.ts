import { describe, expect, it } from 'vitest';
import { joinScrollGroup, proportionalTop } from './scroll-sync';

describe('proportionalTop', () => {
  it('keeps the same proportion of the scrollable range', () => {
    expect(proportionalTop({ scrollTop: 50, scrollHeight: 200, clientHeight: 100 }, { scrollHeight: 1100, clientHeight: 100 })).toBe(500);
    expect(proportionalTop({ scrollTop: 0, scrollHeight: 100, clientHeight: 100 }, { scrollHeight: 900, clientHeight: 100 })).toBe(0);
    expect(proportionalTop({ scrollTop: 100, scrollHeight: 200, clientHeight: 100 }, { scrollHeight: 50, clientHeight: 100 })).toBe(0);
  });
});

function pane(scrollHeight: number): HTMLElement {
  const el = document.createElement('div');
  Object.defineProperty(el, 'scrollHeight', { value: scrollHeight });
  Object.defineProperty(el, 'clientHeight', { value: 100 });
  return el;
}

describe('joinScrollGroup', () => {
  it('moves the other panes only while enabled, and stops after leaving', () => {
    let on = false;
    const a = pane(300);
    const b = pane(500);
    const leaveA = joinScrollGroup('g', a, () => on);
    const leaveB = joinScrollGroup('g', b, () => on);
    a.scrollTop = 100;
    a.dispatchEvent(new Event('scroll'));
    expect(b.scrollTop).toBe(0);
    on = true;
    a.dispatchEvent(new Event('scroll'));
    expect(b.scrollTop).toBe(200);
    b.dispatchEvent(new Event('scroll')); // the echo of the move
    expect(a.scrollTop).toBe(100);
    leaveA();
    b.scrollTop = 400;
    b.dispatchEvent(new Event('scroll'));
    expect(a.scrollTop).toBe(100);
    leaveB();
  });
});

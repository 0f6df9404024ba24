import { describe, expect, it } from 'vitest';
import { canBeGold } from './gold';

describe('canBeGold', () => {
  it('takes the kinds with a comparable verdict', () => {
    expect(['comparison', 'ranking', 'rating', 'thumbs'].every((k) => canBeGold(k as never))).toBe(true);
  });
  it('refuses edits, spans, demonstrations and critiques', () => {
    expect(['edit', 'span', 'demonstration', 'critique'].some((k) => canBeGold(k as never))).toBe(false);
  });
});

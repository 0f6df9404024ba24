import { describe, expect, it } from 'vitest';
import { HoneError } from '$lib/api/errors';
import type { Suggestion } from '$lib/api/types/Suggestion';
import { ItemSuggestion } from './suggestion.svelte';

const result: Suggestion = { source: 'v2', reward_model: 2, scores: [0.1, 0.9], preferred: 8 };

describe('ItemSuggestion', () => {
  it('is not visible before it is fetched, nor with the switch off', async () => {
    let calls = 0;
    const s = new ItemSuggestion(async () => {
      calls += 1;
      return result;
    });
    expect(s.visibleWhen(true)).toBe(false);
    await s.load();
    expect(s.status).toBe('shown');
    expect(s.visibleWhen(true)).toBe(true);
    expect(s.visibleWhen(false)).toBe(false);
    await s.load(); // kept: not fetched again
    expect(calls).toBe(1);
  });

  it("shows the server's sentence when there is no reward model, and asks again later", async () => {
    let fail = true;
    const s = new ItemSuggestion(async () => {
      if (fail) throw new HoneError('invalid', 'invalid project: has no reward model yet', 'project');
      return result;
    });
    await s.load();
    expect(s.status).toBe('unavailable');
    expect(s.note).toBe('No AI suggestion: invalid project: has no reward model yet');
    expect(s.visibleWhen(true)).toBe(false);
    fail = false;
    await s.load();
    expect(s.visibleWhen(true)).toBe(true);
  });

  it('tells other failures apart', async () => {
    const s = new ItemSuggestion(async () => {
      throw new HoneError('model', 'the reward model could not be loaded');
    });
    await s.load();
    expect(s.status).toBe('error');
    expect(s.note).toBe('the reward model could not be loaded');
  });
});

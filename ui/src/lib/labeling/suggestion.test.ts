import { describe, expect, it } from 'vitest';
import { HoneError } from '$lib/api/errors';
import type { ModelRef } from '$lib/api/types/ModelRef';
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
    expect(s.recordWhen(true)).toEqual({ suggestionVisible: false, suggestedResponseId: null });
    await s.load();
    expect(s.status).toBe('shown');
    expect(s.visibleWhen(true)).toBe(true);
    expect(s.visibleWhen(false)).toBe(false);
    expect(s.recordWhen(true)).toEqual({ suggestionVisible: true, suggestedResponseId: 8 });
    expect(s.recordWhen(false)).toEqual({ suggestionVisible: false, suggestedResponseId: null });
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

  it('asks the judge model chosen, again when another is chosen, and keeps each while it stays', async () => {
    const asked: (ModelRef | null)[] = [];
    const judged: Suggestion = { source: 'judge tiny', reward_model: null, scores: [0.3, 0.7], preferred: 8 };
    const s = new ItemSuggestion(async (judge) => {
      asked.push(judge);
      return judge ? judged : result;
    });
    await s.load();
    expect(s.result).toEqual(result);
    const tiny: ModelRef = { kind: 'base', dir: '/tmp/tiny' };
    await s.load(tiny);
    expect(s.result).toEqual(judged);
    await s.load({ kind: 'base', dir: '/tmp/tiny' }); // the same judge: kept
    await s.load(null); // back to the reward model: asked again
    expect(asked).toEqual([null, tiny, null]);
    expect(s.result).toEqual(result);
    expect(s.visibleWhen(true)).toBe(true);
  });

  it('drops the answer of a model no longer chosen', async () => {
    const pending: ((s: Suggestion) => void)[] = [];
    const s = new ItemSuggestion(() => new Promise<Suggestion>((resolve) => pending.push(resolve)));
    const first = s.load();
    const second = s.load({ kind: 'version', id: 3 });
    expect(s.status).toBe('loading');
    const judged: Suggestion = { source: 'judge v1', reward_model: null, scores: [0.6, 0.4], preferred: 7 };
    pending[1](judged);
    await second;
    pending[0](result); // the reward model answers late
    await first;
    expect(s.status).toBe('shown');
    expect(s.result).toEqual(judged);
  });

  it('is not visible while another model is being asked', async () => {
    let release: () => void = () => {};
    const s = new ItemSuggestion(async (judge) => {
      if (judge) await new Promise<void>((r) => (release = r));
      return result;
    });
    await s.load();
    const asking = s.load({ kind: 'base', dir: '/m' });
    expect(s.visibleWhen(true)).toBe(false);
    release();
    await asking;
    expect(s.visibleWhen(true)).toBe(true);
  });
});

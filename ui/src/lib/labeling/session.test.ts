import { describe, expect, it } from 'vitest';
import type { FeedbackInput } from '$lib/api/types/FeedbackInput';
import type { QueueItem } from '$lib/api/types/QueueItem';
import { HoneError } from '$lib/api/errors';
import { LabelSession, unitKey, type SessionDeps } from './session.svelte';

/** A queue item with just what the session reads. */
function item(...ids: number[]): QueueItem {
  return {
    kind: 'comparison',
    prompt: { id: ids[0] * 100, text: 'p' },
    responses: ids.map((id) => ({ id, text: `r${id}` })),
    remaining: 3,
  } as unknown as QueueItem;
}

const tick = () => new Promise((r) => setTimeout(r, 0));

/** A fake server: hands out units in order, skipping excluded and judged ones. */
function fakeServer(units: QueueItem[], options: { honoursExclude: boolean }) {
  const judged = new Set<string>();
  /** Skipped units, last skipped last: they come after every other open unit. */
  const skipped: string[] = [];
  const flagged = new Set<string>();
  const recorded: FeedbackInput[] = [];
  let failNext: HoneError | null = null;
  let nextJudgment = 1;
  const byJudgment = new Map<number, string>();
  let clock = 1000;
  const deps: SessionDeps = {
    async next(exclude) {
      const skip = new Set(options.honoursExclude ? exclude.map((ids) => [...ids].sort((a, b) => a - b).join(',')) : []);
      const open = units.filter((u) => !judged.has(unitKey(u)) && !skip.has(unitKey(u)) && !flagged.has(unitKey(u)));
      const rank = (u: QueueItem) => skipped.indexOf(unitKey(u));
      return open.sort((a, b) => rank(a) - rank(b))[0] ?? null;
    },
    async skip(it) {
      const key = unitKey(it);
      skipped.splice(skipped.indexOf(key) >>> 0, skipped.includes(key) ? 1 : 0);
      skipped.push(key);
      return null;
    },
    async flag(it) {
      flagged.add(unitKey(it));
      return null;
    },
    async record(input) {
      if (failNext) {
        const e = failNext;
        failNext = null;
        throw e;
      }
      recorded.push(input);
      const key = [...input.shown_order].map(Number).sort((a, b) => a - b).join(',');
      judged.add(key);
      const id = nextJudgment++;
      byJudgment.set(id, key);
      return { judgment_id: id, prompt_id: 1, new_response_id: null } as never;
    },
    async undo(judgmentId) {
      judged.delete(byJudgment.get(judgmentId)!);
      return null;
    },
    now: () => clock,
  };
  return {
    deps,
    recorded,
    failWith: (e: HoneError) => (failNext = e),
    advanceClock: (ms: number) => (clock += ms),
  };
}

const choose = { kind: 'comparison', response_a: 0, response_b: 0, choice: 'a', strength: null, reason: null } as never;

describe('LabelSession', () => {
  it('shows the prefetched item immediately, before the save resolves', async () => {
    const server = fakeServer([item(1, 2), item(3, 4), item(5, 6)], { honoursExclude: true });
    const session = new LabelSession<string>(server.deps, { project_id: 1, annotator: 'ann' });
    await session.start();
    await tick(); // the prefetch of the next unit
    expect(unitKey(session.current!.item)).toBe('1,2');
    server.advanceClock(1500);
    const saved = session.submit(choose, 'draft', '');
    // Synchronously after the key press: the next unit is on screen, the save still pending.
    expect(unitKey(session.current!.item)).toBe('3,4');
    expect(session.saveState).toBe('saving');
    await saved;
    expect(session.saveState).toBe('saved');
    expect(session.judged).toBe(1);
    expect(server.recorded[0].time_spent_ms).toBe(1500);
    expect(server.recorded[0].annotator).toBe('ann');
    expect(server.recorded[0].critique).toBeNull();
  });

  it('falls back to fetching after the save when the server ignores exclude', async () => {
    const server = fakeServer([item(1, 2), item(3, 4)], { honoursExclude: false });
    const session = new LabelSession<string>(server.deps, { project_id: 1, annotator: 'ann' });
    await session.start();
    await tick();
    const saved = session.submit(choose, 'd', 'a critique');
    // The prefetch repeated the unit being judged: nothing to show yet.
    expect(session.current).toBeNull();
    await saved;
    await tick();
    expect(unitKey(session.current!.item)).toBe('3,4');
    expect(server.recorded[0].critique).toBe('a critique');
  });

  it('brings a refused judgment back with what was entered, and says why', async () => {
    const server = fakeServer([item(1, 2), item(3, 4)], { honoursExclude: true });
    const session = new LabelSession<string>(server.deps, { project_id: 1, annotator: 'ann' });
    await session.start();
    await tick();
    server.failWith(new HoneError('invalid', 'has no meaning for the choice tie', 'comparison.strength'));
    await session.submit(choose, 'my reason', 'my critique');
    expect(unitKey(session.current!.item)).toBe('1,2');
    expect(session.current!.draft).toBe('my reason');
    expect(session.current!.critique).toBe('my critique');
    expect(session.saveState).toBe('error');
    expect(session.message).toBe('has no meaning for the choice tie (comparison.strength)');
    expect(session.judged).toBe(0);
  });

  it('undoes the last judgment and shows its item again', async () => {
    const server = fakeServer([item(1, 2), item(3, 4)], { honoursExclude: true });
    const session = new LabelSession<string>(server.deps, { project_id: 1, annotator: 'ann' });
    await session.start();
    await tick();
    await session.submit(choose, 'first', '');
    expect(session.canUndo).toBe(true);
    await session.undo();
    expect(unitKey(session.current!.item)).toBe('1,2');
    expect(session.current!.draft).toBe('first');
    expect(session.judged).toBe(0);
    expect(session.canUndo).toBe(false);
    await session.undo();
    expect(session.message).toBe('Nothing to undo');
  });

  it('records whether an AI suggestion was on screen (off unless the screen says so)', async () => {
    const server = fakeServer([item(1, 2), item(3, 4), item(5, 6)], { honoursExclude: true });
    const session = new LabelSession<string>(server.deps, { project_id: 1, annotator: 'ann' });
    await session.start();
    await tick();
    await session.submit(choose, '', '', true, 2);
    await tick();
    await session.submit(choose, '', '', false, 4);
    expect(server.recorded.map((r) => r.suggestion_visible)).toEqual([true, false]);
    expect(server.recorded.map((r) => r.suggested_response_id)).toEqual([2, undefined]);
  });

  it('keeps the last saved judgment for gold marking, and follows undo', async () => {
    const server = fakeServer([item(1, 2), item(3, 4), item(5, 6)], { honoursExclude: true });
    const session = new LabelSession<string>(server.deps, { project_id: 1, annotator: 'ann' });
    await session.start();
    await tick();
    expect(session.lastSaved).toBeNull();
    await session.submit(choose, 'first', '');
    await tick();
    await session.submit({ kind: 'rating', response_id: 3, scores: { overall: 4 } }, 'second', '');
    expect(session.lastSaved).toEqual({ judgmentId: 2, kind: 'rating' });
    await session.undo();
    expect(session.lastSaved).toEqual({ judgmentId: 1, kind: 'comparison' });
    await session.undo();
    expect(session.lastSaved).toBeNull();
  });

  it('finishes when the queue is empty', async () => {
    const server = fakeServer([item(1, 2)], { honoursExclude: true });
    const session = new LabelSession<string>(server.deps, { project_id: 1, annotator: 'ann' });
    await session.start();
    await tick();
    await session.submit(choose, '', '');
    await tick();
    expect(session.current).toBeNull();
    expect(session.finished).toBe(true);
  });
});

describe('skip and flag', () => {
  it('skips to the next unit; the skipped one comes back after the rest', async () => {
    const server = fakeServer([item(1, 2), item(3, 4), item(5, 6)], { honoursExclude: true });
    const session = new LabelSession(server.deps, { project_id: 1, annotator: 'ann' });
    await session.start();
    await tick();
    expect(unitKey(session.current!.item)).toBe('1,2');
    await session.skip();
    await tick();
    expect(unitKey(session.current!.item)).toBe('3,4');
    expect(session.skipped).toBe(1);
    expect(session.message).toMatch(/Skipped/);
    void session.submit(choose, {}, '');
    await tick();
    await tick();
    expect(unitKey(session.current!.item)).toBe('5,6');
    void session.submit(choose, {}, '');
    await tick();
    await tick();
    expect(unitKey(session.current!.item)).toBe('1,2');
  });

  it('brings a lone skipped unit straight back, and a flagged one never', async () => {
    const server = fakeServer([item(1, 2)], { honoursExclude: true });
    const session = new LabelSession(server.deps, { project_id: 1, annotator: 'ann' });
    await session.start();
    await tick();
    await session.skip();
    await tick();
    expect(unitKey(session.current!.item)).toBe('1,2');
    await session.flag('off_topic', null);
    await tick();
    expect(session.current).toBeNull();
    expect(session.finished).toBe(true);
    expect(session.flagged).toBe(1);
  });
});

describe('undo across a reload', () => {
  it('takes back a judgment of an earlier visit, showing its item again', async () => {
    const server = fakeServer([item(1, 2), item(3, 4)], { honoursExclude: true });
    const undone: number[] = [];
    const deps: SessionDeps = {
      ...server.deps,
      async undo(id) {
        undone.push(id);
        return null;
      },
      earlier: async () => [
        { judgmentId: 7, kind: 'comparison' },
        { judgmentId: 9, kind: 'comparison' },
      ],
      itemOf: async (id) => (id === 9 ? item(5, 6) : item(7, 8)),
    };
    const session = new LabelSession(deps, { project_id: 1, annotator: 'ann' });
    await session.start();
    await tick();
    expect(session.lastSaved).toEqual({ judgmentId: 9, kind: 'comparison' });
    expect(session.canUndo).toBe(true);
    await session.undo();
    expect(undone).toEqual([9]);
    expect(unitKey(session.current!.item)).toBe('5,6');
    expect(session.current!.draft).toBeNull();
    expect(session.judged).toBe(0);
    expect(session.lastSaved).toEqual({ judgmentId: 7, kind: 'comparison' });
  });
});

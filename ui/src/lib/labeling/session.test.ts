import { describe, expect, it } from 'vitest';
import type { FeedbackInput } from '$lib/api/types/FeedbackInput';
import type { QueueItem } from '$lib/api/types/QueueItem';
import { HoneError } from '$lib/api/errors';
import { Outbox } from './outbox';
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

describe('judgments kept on this device', () => {
  /** localStorage's part the outbox uses, in memory. */
  function memoryStorage() {
    const map = new Map<string, string>();
    return {
      map,
      storage: () => ({
        getItem: (k: string) => map.get(k) ?? null,
        setItem: (k: string, v: string) => void map.set(k, v),
        removeItem: (k: string) => void map.delete(k),
      }),
    };
  }

  /**
   * A server that can be down (every call fails as the transport does when it cannot reach
   * it), can lose its answer after recording (`loseAnswer`), and records a submission id once,
   * as Hone does.
   */
  function flakyServer(units: QueueItem[]) {
    const state = { down: false, loseAnswer: false, refuse: null as HoneError | null };
    const bySubmission = new Map<string, number>();
    const judged = new Set<string>();
    let nextId = 1;
    let ids = 0;
    const retries: (() => void)[] = [];
    const unreachable = () => new HoneError('network', 'cannot reach the Hone server (Failed to fetch)');
    const deps: SessionDeps = {
      async next(exclude) {
        if (state.down) throw unreachable();
        const skip = new Set(exclude.map((u) => [...u].sort((a, b) => a - b).join(',')));
        return units.find((u) => !judged.has(unitKey(u)) && !skip.has(unitKey(u))) ?? null;
      },
      async record(input) {
        if (state.down) throw unreachable();
        if (state.refuse) throw state.refuse;
        const sid = input.submission_id!;
        let id = bySubmission.get(sid);
        if (id === undefined) {
          id = nextId++;
          bySubmission.set(sid, id);
          judged.add([...input.shown_order].map(Number).sort((a, b) => a - b).join(','));
        }
        if (state.loseAnswer) {
          state.loseAnswer = false;
          throw unreachable();
        }
        return { judgment_id: id, prompt_id: 1, new_response_id: null } as never;
      },
      async undo() {
        return null;
      },
      async skip() {
        return null;
      },
      async flag() {
        return null;
      },
      now: () => 1000,
      newSubmissionId: () => `submission-${++ids}`,
      later: (retry) => void retries.push(retry),
    };
    return {
      state,
      deps,
      recordedCount: () => bySubmission.size,
      /** Runs the retries the session asked for. */
      async retry() {
        const due = retries.splice(0);
        due.forEach((r) => r());
        await tick();
        await tick();
      },
      retriesAsked: () => retries.length,
    };
  }

  it('keeps a judgment the server could not be reached for, and sends it when it is back', async () => {
    const { map, storage } = memoryStorage();
    const server = flakyServer([item(1, 2), item(3, 4), item(5, 6)]);
    const outbox = Outbox.for(1, 'ann', 'comparison', storage);
    const session = new LabelSession<string>({ ...server.deps, outbox }, { project_id: 1, annotator: 'ann' });
    await session.start();
    await tick();
    server.state.down = true;
    await session.submit(choose, 'draft', '');
    // Not brought back for the expert to redo: it waits, and the expert goes on.
    expect(session.saveState).toBe('waiting');
    expect(session.waiting).toBe(1);
    expect(unitKey(session.current!.item)).toBe('3,4');
    expect(session.message).toContain('kept on this device');
    const stored = JSON.parse(map.get('hone.outbox.1.comparison.ann')!);
    expect(stored).toHaveLength(1);
    expect(stored[0].submission_id).toBe('submission-1');
    expect(server.retriesAsked()).toBe(1);

    await server.retry(); // still down
    expect(session.waiting).toBe(1);
    expect(server.retriesAsked()).toBe(1);

    server.state.down = false;
    await server.retry();
    expect(session.waiting).toBe(0);
    expect(session.judged).toBe(1);
    expect(session.saveState).toBe('saved');
    expect(session.message).toBe('Sent (judgment 1)');
    expect(map.has('hone.outbox.1.comparison.ann')).toBe(false);
    expect(server.recordedCount()).toBe(1);
    expect(session.canUndo).toBe(true);
  });

  it('records once when the server recorded it but its answer was lost', async () => {
    const { storage } = memoryStorage();
    const server = flakyServer([item(1, 2), item(3, 4)]);
    const session = new LabelSession<string>({ ...server.deps, outbox: Outbox.for(1, 'ann', 'comparison', storage) }, { project_id: 1, annotator: 'ann' });
    await session.start();
    await tick();
    server.state.loseAnswer = true;
    await session.submit(choose, 'd', '');
    expect(session.waiting).toBe(1);
    await server.retry();
    expect(session.waiting).toBe(0);
    expect(session.judged).toBe(1);
    expect(server.recordedCount()).toBe(1);
  });

  it('sends what an earlier visit kept, when the screen opens again', async () => {
    const { map, storage } = memoryStorage();
    const server = flakyServer([item(1, 2), item(3, 4)]);
    const first = new LabelSession<string>({ ...server.deps, outbox: Outbox.for(1, 'ann', 'comparison', storage) }, { project_id: 1, annotator: 'ann' });
    await first.start();
    await tick();
    server.state.down = true;
    await first.submit(choose, 'd', '');
    expect(map.size).toBe(1);

    // The page is closed and opened again once the server is back.
    server.state.down = false;
    const second = new LabelSession<string>({ ...server.deps, outbox: Outbox.for(1, 'ann', 'comparison', storage) }, { project_id: 1, annotator: 'ann' });
    expect(second.waiting).toBe(0);
    await second.start();
    await tick();
    expect(second.waiting).toBe(0);
    expect(second.judged).toBe(1);
    expect(map.size).toBe(0);
    expect(server.recordedCount()).toBe(1);
    // The unit it judged is not handed out again.
    expect(unitKey(second.current!.item)).toBe('3,4');
  });

  it('brings a kept judgment back on screen when the server refuses it', async () => {
    const { map, storage } = memoryStorage();
    const server = flakyServer([item(1, 2), item(3, 4)]);
    const session = new LabelSession<string>({ ...server.deps, outbox: Outbox.for(1, 'ann', 'comparison', storage) }, { project_id: 1, annotator: 'ann' });
    await session.start();
    await tick();
    server.state.down = true;
    await session.submit(choose, 'my draft', 'my critique');
    server.state.down = false;
    server.state.refuse = new HoneError('forbidden', 'ana is not a member of this project');
    await server.retry();
    expect(session.waiting).toBe(0);
    expect(map.size).toBe(0);
    expect(session.saveState).toBe('error');
    expect(session.message).toContain('was refused: ana is not a member');
    expect(unitKey(session.current!.item)).toBe('1,2');
    expect(session.current!.draft).toBe('my draft');
  });

  it('keeps judgments when the sign-in ended (a server restart) and sends them once signed in again', async () => {
    const { map, storage } = memoryStorage();
    const server = flakyServer([item(1, 2), item(3, 4), item(5, 6)]);
    const session = new LabelSession<string>({ ...server.deps, outbox: Outbox.for(1, 'ann', 'comparison', storage) }, { project_id: 1, annotator: 'ann' });
    await session.start();
    await tick();
    server.state.refuse = new HoneError('unauthorized', 'sign in again');
    await session.submit(choose, 'a', '');
    await tick();
    await session.submit(choose, 'b', '');
    expect(session.waiting).toBe(2);
    expect(JSON.parse(map.get('hone.outbox.1.comparison.ann')!)).toHaveLength(2);
    server.state.refuse = null;
    await server.retry();
    await tick();
    expect(session.waiting).toBe(0);
    expect(session.judged).toBe(2);
    expect(server.recordedCount()).toBe(2);
  });

  it('stops at the first kept judgment the server refuses, leaving the rest kept', async () => {
    const { storage } = memoryStorage();
    const server = flakyServer([item(1, 2), item(3, 4), item(5, 6)]);
    const session = new LabelSession<string>({ ...server.deps, outbox: Outbox.for(1, 'ann', 'comparison', storage) }, { project_id: 1, annotator: 'ann' });
    await session.start();
    await tick();
    server.state.down = true;
    await session.submit(choose, 'first', '');
    await session.submit(choose, 'second', '');
    expect(session.waiting).toBe(2);
    server.state.down = false;
    server.state.refuse = new HoneError('invalid', 'no longer open');
    await server.retry();
    // The first comes back on screen with its draft; the second still waits.
    expect(session.current!.draft).toBe('first');
    expect(session.waiting).toBe(1);
    server.state.refuse = null;
    await server.retry();
    expect(session.waiting).toBe(0);
    expect(session.judged).toBe(1);
  });

  it('without an outbox, a save the server could not be reached for comes back on screen', async () => {
    const server = flakyServer([item(1, 2), item(3, 4)]);
    const session = new LabelSession<string>(server.deps, { project_id: 1, annotator: 'ann' });
    await session.start();
    await tick();
    server.state.down = true;
    await session.submit(choose, 'd', '');
    expect(session.saveState).toBe('error');
    expect(unitKey(session.current!.item)).toBe('1,2');
    expect(session.waiting).toBe(0);
  });
});

// A labeling session: the item on screen, the next one fetched while the expert judges, the
// judgments being saved, and the undo history. The next item appears as soon as the expert
// decides; the judgment shows as saved only when record_feedback resolved, and a refused one
// comes back on screen with what the expert had entered. With an outbox, every judgment is kept
// on this device until the server has it: one the server could not be reached for waits there
// (the expert goes on) and is sent again, under its submission id, until it lands.
import type { FeedbackInput } from '$lib/api/types/FeedbackInput';
import type { FeedbackKind } from '$lib/api/types/FeedbackKind';
import type { FlagReason } from '$lib/api/types/FlagReason';
import type { JudgmentId } from '$lib/api/types/JudgmentId';
import type { QueueItem } from '$lib/api/types/QueueItem';
import type { Recorded } from '$lib/api/types/Recorded';
import type { ResponseId } from '$lib/api/types/ResponseId';
import { describeError, toHoneError } from '$lib/api/errors';
import { isTransient, newSubmissionId, type Outbox, type Pending } from './outbox';

export interface SessionDeps {
  /** The next unit, skipping `exclude` (units as response ids) when the server can. */
  next(exclude: ResponseId[][]): Promise<QueueItem | null>;
  record(input: FeedbackInput): Promise<Recorded>;
  undo(judgmentId: JudgmentId): Promise<unknown>;
  /** Puts the unit at the back of this annotator's queue (it comes back when nothing else is open). */
  skip(item: QueueItem): Promise<unknown>;
  /** Takes the unit out of this annotator's queue, with why. */
  flag(item: QueueItem, reason: FlagReason, note: string | null): Promise<unknown>;
  now(): number;
  /**
   * This annotator's earlier judgments of this kind that undo may still take back (newest
   * last), so that undo survives a reload; and the item of one of them, to show it again.
   */
  earlier?(): Promise<{ judgmentId: JudgmentId; kind: FeedbackKind['kind'] }[]>;
  itemOf?(judgmentId: JudgmentId): Promise<QueueItem>;
  /** Where judgments wait until the server has them (see `outbox.ts`); none: a failed save comes back on screen. */
  outbox?: Outbox;
  /** A fresh submission id (tests make them predictable). */
  newSubmissionId?(): string;
  /** Runs `retry` after `ms` (a timer; tests run it by hand). */
  later?(retry: () => void, ms: number): void;
}

/** How long a judgment kept on this device waits before it is sent again. */
export const RETRY_MS = 5000;

export interface Shown<D> {
  /** Changes with every item shown, so screens can rebuild their input state. */
  seq: number;
  item: QueueItem;
  /** What the expert had entered, when the item comes back (refused save, undo). */
  draft: D | null;
  critique: string;
  shownAt: number;
}

export type SaveState = 'idle' | 'saving' | 'saved' | 'error' | 'waiting';

/** The last judgment saved in this session (what undo takes back, and what can be marked gold). */
export interface LastSaved {
  judgmentId: JudgmentId;
  kind: FeedbackKind['kind'];
}

interface Done<D> {
  /** Null for a judgment of an earlier visit: fetched when undone. */
  item: QueueItem | null;
  judgmentId: JudgmentId;
  kind: FeedbackKind['kind'];
  draft: D;
  critique: string;
}

/** What identifies a unit of the queue: its responses (a ranking's are its prompt's). */
export function unitKey(item: QueueItem): string {
  return item.responses
    .map((r) => Number(r.id))
    .sort((a, b) => a - b)
    .join(',');
}

function unitIds(item: QueueItem): ResponseId[] {
  return item.responses.map((r) => Number(r.id)).sort((a, b) => a - b);
}

export class LabelSession<D> {
  current = $state<Shown<D> | null>(null);
  /** Waiting for an item (none on screen yet). */
  loading = $state(true);
  /** The queue has nothing left for this annotator and kind. */
  finished = $state(false);
  saveState = $state<SaveState>('idle');
  /** The last save's sentence: "Saved", or the refusal as the server put it. */
  message = $state('');
  /** Judgments saved in this session (minus those undone). */
  judged = $state(0);
  /** Milliseconds spent on each saved judgment, for the mean shown beside the counter. */
  times = $state<number[]>([]);
  /** Items skipped and flagged in this session. */
  skipped = $state(0);
  flagged = $state(0);
  /** The judgment undo would take back; null when there is none. */
  lastSaved = $state<LastSaved | null>(null);
  /** Judgments kept on this device that the server does not have yet. */
  waiting = $state(0);

  private seq = 0;
  private history: Done<D>[] = [];
  /** The undo history as it was before this visit, loaded with `start`. */
  private earlierLoaded = false;
  private saving = new Map<string, QueueItem>();
  /** Units of judgments in the outbox, by submission id (not to be handed out again). */
  private queued = new Map<string, { item: QueueItem; kind: FeedbackKind['kind']; draft: D; critique: string; spent: number }>();
  /** Submission ids whose first send has not answered yet. */
  private inFlight = new Set<string>();
  private retrying = false;
  /** Asked to send while a send was under way: go round once more. */
  private again = false;
  private retryScheduled = false;
  /** The prefetched next item: a promise while in flight, then its value. */
  private upcoming: { ready: boolean; item: QueueItem | null; promise: Promise<QueueItem | null> } | null = null;

  constructor(
    private readonly deps: SessionDeps,
    private readonly base: Pick<FeedbackInput, 'project_id' | 'annotator'>,
  ) {}

  get canUndo(): boolean {
    return this.history.length > 0;
  }

  async start(): Promise<void> {
    this.loading = true;
    this.waiting = this.deps.outbox?.size ?? 0;
    // Judgments an earlier visit kept on this device go first (their units are held meanwhile).
    await this.sendWaiting();
    await Promise.all([this.fetchAndShow(), this.loadEarlier()]);
  }

  private async loadEarlier() {
    if (this.earlierLoaded || !this.deps.earlier) return;
    this.earlierLoaded = true;
    try {
      const earlier = await this.deps.earlier();
      const mine = new Set(this.history.map((d) => d.judgmentId));
      const old: Done<D>[] = earlier
        .filter((e) => !mine.has(e.judgmentId))
        .map((e) => ({ item: null, judgmentId: e.judgmentId, kind: e.kind, draft: null as D, critique: '' }));
      this.history = [...old, ...this.history];
      this.lastSaved = this.lastOf();
    } catch {
      // Undo then reaches this visit's judgments only.
    }
  }

  /**
   * Records the current item's judgment; shows the next item at once when it is known.
   * `suggestionVisible`: an AI suggestion was on screen when the verdict was given;
   * `suggestedResponseId`: the answer it preferred.
   */
  submit(kind: FeedbackKind, draft: D, critique: string, suggestionVisible = false, suggestedResponseId: ResponseId | null = null): Promise<void> {
    const shown = this.current;
    if (!shown) return Promise.resolve();
    const spent = Math.max(0, Math.round(this.deps.now() - shown.shownAt));
    const input: FeedbackInput = {
      ...this.base,
      time_spent_ms: spent,
      shown_order: shown.item.responses.map((r) => r.id),
      critique: critique.trim() === '' ? null : critique,
      suggestion_visible: suggestionVisible,
      ...(suggestionVisible && suggestedResponseId !== null ? { suggested_response_id: suggestedResponseId } : {}),
      kind,
      submission_id: (this.deps.newSubmissionId ?? newSubmissionId)(),
    };
    const submissionId = input.submission_id as string;
    // Kept on this device before it is sent: a page closed mid-save sends it next visit.
    this.deps.outbox?.add(input as Pending);
    const key = unitKey(shown.item);
    this.saving.set(key, shown.item);
    this.saveState = 'saving';
    this.message = 'Saving…';
    this.advance();

    this.inFlight.add(submissionId);
    return this.deps.record(input).then(
      (recorded) => {
        this.inFlight.delete(submissionId);
        this.deps.outbox?.remove(submissionId);
        this.waiting = this.deps.outbox?.size ?? 0;
        this.saving.delete(key);
        this.saved(shown.item, recorded, kind.kind, draft, critique, spent);
        if (this.saving.size === 0 && this.queued.size === 0) {
          this.saveState = 'saved';
          this.message = `Saved (judgment ${recorded.judgment_id})`;
        }
        // Nothing could be shown while this unit was unsaved: ask again now.
        if (!this.current && !this.finished) void this.fetchAndShow();
      },
      (caught: unknown) => {
        this.inFlight.delete(submissionId);
        this.saving.delete(key);
        const error = toHoneError(caught);
        if (this.deps.outbox && isTransient(error)) {
          // Not lost: it waits on this device and goes again shortly; the expert goes on.
          this.queued.set(submissionId, { item: shown.item, kind: kind.kind, draft, critique, spent });
          this.waiting = this.deps.outbox.size;
          this.saveState = 'waiting';
          this.message = this.waitingMessage(error.message);
          this.scheduleRetry();
          if (!this.current && !this.finished) void this.fetchAndShow();
          return;
        }
        this.deps.outbox?.remove(submissionId);
        this.waiting = this.deps.outbox?.size ?? 0;
        this.saveState = 'error';
        this.message = error.human;
        this.restore({ ...shown, draft, critique });
      },
    );
  }

  /** A judgment the server recorded: it counts, and undo can take it back. */
  private saved(item: QueueItem | null, recorded: Recorded, kind: FeedbackKind['kind'], draft: D, critique: string, spent: number | null) {
    this.history.push({ item, judgmentId: Number(recorded.judgment_id), kind, draft, critique });
    this.lastSaved = this.lastOf();
    this.judged += 1;
    if (spent !== null) this.times = [...this.times, spent];
  }

  private waitingMessage(why: string): string {
    const n = this.waiting;
    return `${n} judgment${n === 1 ? '' : 's'} kept on this device until the server can be reached (${why}); sending again shortly`;
  }

  private scheduleRetry() {
    if (this.retryScheduled) return;
    this.retryScheduled = true;
    const later = this.deps.later ?? ((retry: () => void, ms: number) => void setTimeout(retry, ms));
    later(() => {
      this.retryScheduled = false;
      void this.sendWaiting();
    }, RETRY_MS);
  }

  /**
   * Sends the judgments kept on this device, oldest first, until one cannot reach the server
   * (then it tries again later). Also what the screen calls when the browser says it is
   * online again.
   */
  async sendWaiting(): Promise<void> {
    const outbox = this.deps.outbox;
    if (!outbox) return;
    if (this.retrying) {
      this.again = true;
      return;
    }
    this.retrying = true;
    try {
      do {
        this.again = false;
        if (!(await this.sendEachWaiting(outbox))) return;
      } while (this.again);
      if (!this.current && !this.finished && !this.loading) void this.fetchAndShow();
    } finally {
      this.retrying = false;
    }
  }

  /** One pass over the outbox; false when it stopped (the server out of reach, or a refusal on screen). */
  private async sendEachWaiting(outbox: Outbox): Promise<boolean> {
    for (const pending of outbox.list()) {
      if (this.inFlight.has(pending.submission_id) || !outbox.has(pending.submission_id)) continue;
      const queued = this.queued.get(pending.submission_id);
      try {
        const recorded = await this.deps.record(pending);
        // Counted once: by whichever send answered first.
        if (!outbox.has(pending.submission_id)) continue;
        outbox.remove(pending.submission_id);
        this.queued.delete(pending.submission_id);
        this.saved(queued?.item ?? null, recorded, pending.kind.kind, (queued?.draft ?? null) as D, queued?.critique ?? '', queued?.spent ?? null);
        this.saveState = 'saved';
        this.message = `Sent (judgment ${recorded.judgment_id})`;
      } catch (caught) {
        const error = toHoneError(caught);
        if (isTransient(error)) {
          this.waiting = outbox.size;
          this.saveState = 'waiting';
          this.message = this.waitingMessage(error.message);
          this.scheduleRetry();
          return false;
        }
        // Refused by the server: nothing more to send for it; its item comes back if known,
        // and the others wait until the expert has dealt with it (one item on screen at a time).
        outbox.remove(pending.submission_id);
        this.queued.delete(pending.submission_id);
        this.saveState = 'error';
        this.message = `A judgment kept on this device was refused: ${error.human}`;
        if (queued) {
          this.restore({ seq: 0, item: queued.item, draft: queued.draft, critique: queued.critique, shownAt: this.deps.now() });
          this.waiting = outbox.size;
          if (outbox.size > 0) this.scheduleRetry();
          return false;
        }
      } finally {
        this.waiting = outbox.size;
      }
    }
    return true;
  }

  /** Skips the item on screen: the server moves it to the back of this annotator's queue. */
  skip(): Promise<void> {
    return this.setAside((item) => this.deps.skip(item), () => {
      this.skipped += 1;
      return 'Skipped: it comes back after the rest';
    });
  }

  /** Flags the item on screen with why; it does not come back to this annotator. */
  flag(reason: FlagReason, note: string | null): Promise<void> {
    return this.setAside((item) => this.deps.flag(item, reason, note), () => {
      this.flagged += 1;
      return `Flagged (${reason.replaceAll('_', ' ')})`;
    });
  }

  /** Records a skip or flag first (so the next fetch knows), then shows the next item. */
  private async setAside(record: (item: QueueItem) => Promise<unknown>, done: () => string): Promise<void> {
    const shown = this.current;
    if (!shown) return;
    try {
      await record(shown.item);
    } catch (error) {
      this.saveState = 'error';
      this.message = describeError(error);
      return;
    }
    if (this.current !== shown) return;
    this.saveState = 'idle';
    this.message = done();
    // The prefetched item was chosen before the skip: only a different unit may be used.
    this.advance();
    if (!this.current && !this.upcoming) void this.fetchAndShow();
  }

  /** Takes back the last saved judgment and shows its item again with what was entered. */
  async undo(): Promise<void> {
    const last = this.history[this.history.length - 1];
    if (!last) {
      this.saveState = 'idle';
      this.message = 'Nothing to undo';
      return;
    }
    const thisVisit = last.item !== null;
    // A judgment of an earlier visit: its item is read before the judgment goes.
    let item = last.item;
    if (!item && this.deps.itemOf) item = await this.deps.itemOf(last.judgmentId).catch(() => null);
    try {
      await this.deps.undo(last.judgmentId);
    } catch (error) {
      this.saveState = 'error';
      this.message = describeError(error);
      return;
    }
    this.history.pop();
    this.lastSaved = this.lastOf();
    if (thisVisit) {
      this.judged = Math.max(0, this.judged - 1);
      this.times = this.times.slice(0, -1);
    }
    this.saveState = 'idle';
    this.message = `Undone (judgment ${last.judgmentId})`;
    if (item) this.restore({ seq: 0, item, draft: thisVisit ? last.draft : null, critique: last.critique, shownAt: this.deps.now() });
  }

  private lastOf(): LastSaved | null {
    const last = this.history[this.history.length - 1];
    return last ? { judgmentId: last.judgmentId, kind: last.kind } : null;
  }

  /** Puts `shown` back on screen; the item it replaces becomes the next one. */
  private restore(shown: Shown<D>) {
    const replaced = this.current;
    if (replaced && unitKey(replaced.item) !== unitKey(shown.item)) {
      this.upcoming = { ready: true, item: replaced.item, promise: Promise.resolve(replaced.item) };
    }
    this.finished = false;
    this.loading = false;
    this.show(shown.item, shown.draft, shown.critique, shown.shownAt);
  }

  private show(item: QueueItem, draft: D | null = null, critique = '', shownAt = this.deps.now()) {
    this.seq += 1;
    this.current = { seq: this.seq, item, draft, critique, shownAt };
    this.loading = false;
    this.finished = false;
    this.prefetch();
  }

  /** Units the server must not hand out again now: on screen, being saved, or waiting to be sent. */
  private held(): ResponseId[][] {
    const units = [...this.saving.values(), ...[...this.queued.values()].map((q) => q.item)].map(unitIds);
    // An earlier visit's kept judgments: their shown order is their unit's responses.
    for (const pending of this.deps.outbox?.list() ?? []) units.push([...pending.shown_order].map(Number).sort((a, b) => a - b));
    if (this.current) units.push(unitIds(this.current.item));
    return units;
  }

  private isHeld(item: QueueItem): boolean {
    const key = unitKey(item);
    const kept = (this.deps.outbox?.list() ?? []).some((p) => [...p.shown_order].map(Number).sort((a, b) => a - b).join(',') === key);
    return (
      kept ||
      this.saving.has(key) ||
      [...this.queued.values()].some((q) => unitKey(q.item) === key) ||
      (this.current !== null && unitKey(this.current.item) === key)
    );
  }

  private prefetch() {
    const entry = {
      ready: false,
      item: null as QueueItem | null,
      promise: this.deps.next(this.held()).catch(() => null),
    };
    entry.promise.then((item) => {
      entry.item = item;
      entry.ready = true;
    });
    this.upcoming = entry;
  }

  /** After a submit: the prefetched item if it is ready and new, else wait for the saves. */
  private advance() {
    const up = this.upcoming;
    this.upcoming = null;
    this.current = null;
    if (up && up.ready && up.item && !this.isHeld(up.item)) {
      this.show(up.item);
      return;
    }
    this.loading = true;
    if (up && !up.ready) {
      // Still in flight: use it if it turns out to be new, else ask again after the save.
      void up.promise.then((item) => {
        if (this.current || this.finished) return;
        if (item && !this.isHeld(item)) this.show(item);
        else if (this.saving.size === 0) void this.fetchAndShow();
      });
    }
  }

  private async fetchAndShow() {
    let item: QueueItem | null;
    try {
      item = await this.deps.next(this.held());
    } catch (error) {
      this.loading = false;
      this.saveState = 'error';
      this.message = describeError(error);
      return;
    }
    if (this.current) return;
    if (item && this.isHeld(item)) {
      // The server repeated a unit being saved; the save's completion fetches again.
      return;
    }
    if (item) this.show(item);
    else {
      // With saves pending the queue may still hold their units' successors: wait for them.
      this.loading = this.saving.size > 0;
      this.finished = this.saving.size === 0;
    }
  }
}

// A labeling session: the item on screen, the next one fetched while the expert judges, the
// judgments being saved, and the undo history. The next item appears as soon as the expert
// decides; the judgment shows as saved only when record_feedback resolved, and a refused one
// comes back on screen with what the expert had entered.
import type { FeedbackInput } from '$lib/api/types/FeedbackInput';
import type { FeedbackKind } from '$lib/api/types/FeedbackKind';
import type { FlagReason } from '$lib/api/types/FlagReason';
import type { QueueItem } from '$lib/api/types/QueueItem';
import type { Recorded } from '$lib/api/types/Recorded';
import { describeError } from '$lib/api/errors';

export interface SessionDeps {
  /** The next unit, skipping `exclude` (units as response ids) when the server can. */
  next(exclude: number[][]): Promise<QueueItem | null>;
  record(input: FeedbackInput): Promise<Recorded>;
  undo(judgmentId: number): Promise<unknown>;
  /** Puts the unit at the back of this annotator's queue (it comes back when nothing else is open). */
  skip(item: QueueItem): Promise<unknown>;
  /** Takes the unit out of this annotator's queue, with why. */
  flag(item: QueueItem, reason: FlagReason, note: string | null): Promise<unknown>;
  now(): number;
  /**
   * This annotator's earlier judgments of this kind that undo may still take back (newest
   * last), so that undo survives a reload; and the item of one of them, to show it again.
   */
  earlier?(): Promise<{ judgmentId: number; kind: FeedbackKind['kind'] }[]>;
  itemOf?(judgmentId: number): Promise<QueueItem>;
}

export interface Shown<D> {
  /** Changes with every item shown, so screens can rebuild their input state. */
  seq: number;
  item: QueueItem;
  /** What the expert had entered, when the item comes back (refused save, undo). */
  draft: D | null;
  critique: string;
  shownAt: number;
}

export type SaveState = 'idle' | 'saving' | 'saved' | 'error';

/** The last judgment saved in this session (what undo takes back, and what can be marked gold). */
export interface LastSaved {
  judgmentId: number;
  kind: FeedbackKind['kind'];
}

interface Done<D> {
  /** Null for a judgment of an earlier visit: fetched when undone. */
  item: QueueItem | null;
  judgmentId: number;
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

function unitIds(item: QueueItem): number[] {
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

  private seq = 0;
  private history: Done<D>[] = [];
  /** The undo history as it was before this visit, loaded with `start`. */
  private earlierLoaded = false;
  private saving = new Map<string, QueueItem>();
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
  submit(kind: FeedbackKind, draft: D, critique: string, suggestionVisible = false, suggestedResponseId: number | null = null): Promise<void> {
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
    };
    const key = unitKey(shown.item);
    this.saving.set(key, shown.item);
    this.saveState = 'saving';
    this.message = 'Saving…';
    this.advance();

    return this.deps.record(input).then(
      (recorded) => {
        this.saving.delete(key);
        this.history.push({ item: shown.item, judgmentId: Number(recorded.judgment_id), kind: kind.kind, draft, critique });
        this.lastSaved = this.lastOf();
        this.judged += 1;
        this.times = [...this.times, spent];
        if (this.saving.size === 0) {
          this.saveState = 'saved';
          this.message = `Saved (judgment ${recorded.judgment_id})`;
        }
        // Nothing could be shown while this unit was unsaved: ask again now.
        if (!this.current && !this.finished) void this.fetchAndShow();
      },
      (error: unknown) => {
        this.saving.delete(key);
        this.saveState = 'error';
        this.message = describeError(error);
        this.restore({ ...shown, draft, critique });
      },
    );
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

  /** Units the server must not hand out again now: on screen, or being saved. */
  private held(): number[][] {
    const units = [...this.saving.values()].map(unitIds);
    if (this.current) units.push(unitIds(this.current.item));
    return units;
  }

  private isHeld(item: QueueItem): boolean {
    const key = unitKey(item);
    return this.saving.has(key) || (this.current !== null && unitKey(this.current.item) === key);
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

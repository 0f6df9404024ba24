// Judgments kept on this device until the server has them. Every judgment goes in before it is
// sent and out once the server answered (recorded or refused), so one whose answer never came
// (the connection dropped, the page closed mid-save) is sent again later — under the same
// submission id, which the server records once (`FeedbackInput.submission_id`).
import type { FeedbackInput } from '$lib/api/types/FeedbackInput';
import type { HoneError } from '$lib/api/errors';
import type { ProjectId } from '$lib/api/types/ProjectId';

/** The part of `localStorage` the outbox uses. */
export interface OutboxStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

function browserStorage(): OutboxStorage | null {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage;
  } catch {
    return null; // storage disabled
  }
}

/** A judgment waiting, with its submission id (always set). */
export type Pending = FeedbackInput & { submission_id: string };

export class Outbox {
  /** Kept in memory too: with storage disabled, the outbox lasts as long as the page. */
  private items: Pending[];

  constructor(
    private readonly key: string,
    private readonly storage: () => OutboxStorage | null = browserStorage,
  ) {
    this.items = this.read();
  }

  /** The outbox of one annotator's judgments of one kind in one project (one labeling screen's). */
  static for(projectId: ProjectId, annotator: string, kind: string, storage?: () => OutboxStorage | null): Outbox {
    return new Outbox(`hone.outbox.${projectId}.${kind}.${annotator}`, storage);
  }

  get size(): number {
    return this.items.length;
  }

  has(submissionId: string): boolean {
    return this.items.some((p) => p.submission_id === submissionId);
  }

  /** Waiting judgments, oldest first. */
  list(): Pending[] {
    return [...this.items];
  }

  add(input: Pending): void {
    this.items = [...this.items.filter((p) => p.submission_id !== input.submission_id), input];
    this.write();
  }

  remove(submissionId: string): void {
    this.items = this.items.filter((p) => p.submission_id !== submissionId);
    this.write();
  }

  private read(): Pending[] {
    try {
      const text = this.storage()?.getItem(this.key);
      if (!text) return [];
      const parsed: unknown = JSON.parse(text);
      return Array.isArray(parsed) ? (parsed.filter((p) => typeof p?.submission_id === 'string') as Pending[]) : [];
    } catch {
      return []; // unreadable (edited by hand): nothing to send
    }
  }

  private write() {
    try {
      const storage = this.storage();
      if (!storage) return;
      if (this.items.length === 0) storage.removeItem(this.key);
      else storage.setItem(this.key, JSON.stringify(this.items));
    } catch {
      // full or disabled storage: the in-memory list still holds them for this page
    }
  }
}

/**
 * Whether a failed save may succeed if sent again unchanged: the server could not be reached,
 * something between (a proxy) answered instead of it, its database was out of reach
 * (`unavailable`), or the sign-in ended (a server restart forgets sessions: once the expert
 * signs in again, it goes). A refusal by Hone itself (invalid, forbidden) is final.
 */
export function isTransient(error: HoneError): boolean {
  return ['network', 'http', 'unavailable', 'unauthorized'].includes(error.code);
}

/** How many judgments every labeling screen of this device still keeps for the server. */
export function waitingOnThisDevice(): number {
  try {
    if (typeof localStorage === 'undefined') return 0;
    let n = 0;
    for (let i = 0; i < localStorage.length; i++) {
      const key = localStorage.key(i);
      if (!key?.startsWith('hone.outbox.')) continue;
      const list: unknown = JSON.parse(localStorage.getItem(key) ?? '[]');
      if (Array.isArray(list)) n += list.length;
    }
    return n;
  } catch {
    return 0;
  }
}

/** A fresh submission id. */
export function newSubmissionId(): string {
  if (typeof crypto !== 'undefined' && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  return `s-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 14)}`;
}

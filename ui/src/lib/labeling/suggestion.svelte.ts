// The AI suggestion of the item on screen: fetched once, the first time the annotator turns
// "Show AI suggestion" on for it, and kept while the item stays. Whether it is on screen when the
// verdict is given is what the judgment records (`suggestion_visible`).
import { toHoneError } from '$lib/api/errors';
import type { Suggestion } from '$lib/api/types/Suggestion';
import { unavailableText } from '$lib/suggestion';

/** `unavailable`: the server said no (`invalid`: no reward model yet); `error`: anything else. */
export type SuggestionStatus = 'idle' | 'loading' | 'shown' | 'unavailable' | 'error';

export class ItemSuggestion {
  status = $state<SuggestionStatus>('idle');
  result = $state<Suggestion | null>(null);
  /** Why there is none, in words. */
  note = $state('');

  constructor(private readonly fetch: () => Promise<Suggestion>) {}

  /** Fetches the suggestion unless it is here or on its way; a refusal is asked again next time. */
  async load(): Promise<void> {
    if (this.status === 'loading' || this.status === 'shown') return;
    this.status = 'loading';
    try {
      this.result = await this.fetch();
      this.status = 'shown';
      this.note = '';
    } catch (e) {
      const err = toHoneError(e);
      this.status = err.code === 'invalid' ? 'unavailable' : 'error';
      this.note = err.code === 'invalid' ? unavailableText(err) : err.human;
    }
  }

  /** Whether the suggestion is on screen, with the switch `on` or off. */
  visibleWhen(on: boolean): boolean {
    return on && this.status === 'shown' && this.result !== null;
  }
}

// The AI suggestion of the item on screen: fetched the first time the annotator turns "Show AI
// suggestion" on for it, and kept while the item stays — from the latest reward model, or from
// the judge model chosen under "Suggest with"; choosing another asks again (an answer from the
// one chosen before is dropped). Whether it is on screen when the verdict is given is what the
// judgment records (`suggestion_visible`).
import { toHoneError } from '$lib/api/errors';
import type { ModelRef } from '$lib/api/types/ModelRef';
import type { ResponseId } from '$lib/api/types/ResponseId';
import type { Suggestion } from '$lib/api/types/Suggestion';
import { encodeRef } from '$lib/modelref';
import { unavailableText } from '$lib/suggestion';

/** `unavailable`: the server said no (`invalid`: no reward model yet); `error`: anything else. */
export type SuggestionStatus = 'idle' | 'loading' | 'shown' | 'unavailable' | 'error';

export class ItemSuggestion {
  status = $state<SuggestionStatus>('idle');
  result = $state<Suggestion | null>(null);
  /** Why there is none, in words. */
  note = $state('');
  /** Who the state above is from: the judge as `encodeRef` writes it, '' for the reward model. */
  #source = '';
  /** The latest request: an answer to an earlier one is dropped. */
  #request = 0;

  /** `fetch(null)` asks the latest reward model, `fetch(judge)` the judge model. */
  constructor(private readonly fetch: (judge: ModelRef | null) => Promise<Suggestion>) {}

  /**
   * Fetches the suggestion of `judge` (null: the latest reward model) unless it is here or on
   * its way; a refusal is asked again next time.
   */
  async load(judge: ModelRef | null = null): Promise<void> {
    const source = encodeRef(judge);
    if (source === this.#source && (this.status === 'loading' || this.status === 'shown')) return;
    this.#source = source;
    const request = ++this.#request;
    this.status = 'loading';
    this.result = null;
    try {
      const result = await this.fetch(judge);
      if (request !== this.#request) return;
      this.result = result;
      this.status = 'shown';
      this.note = '';
    } catch (e) {
      if (request !== this.#request) return;
      const err = toHoneError(e);
      this.status = err.code === 'invalid' ? 'unavailable' : 'error';
      this.note = err.code === 'invalid' ? unavailableText(err) : err.human;
    }
  }

  /** Whether the suggestion is on screen, with the switch `on` or off. */
  visibleWhen(on: boolean): boolean {
    return on && this.status === 'shown' && this.result !== null;
  }

  /** What a judgment records of the suggestion: whether it was on screen and the answer it preferred. */
  recordWhen(on: boolean): { suggestionVisible: boolean; suggestedResponseId: ResponseId | null } {
    const visible = this.visibleWhen(on);
    return { suggestionVisible: visible, suggestedResponseId: visible && this.result ? Number(this.result.preferred) : null };
  }
}

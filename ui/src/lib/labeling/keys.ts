// Keyboard mapping of the labeling screens as pure functions: a key press (plus whether focus
// is in a text field) → an action, or null to let the browser have the key. The screens only
// execute actions, so every shortcut is testable without a DOM. Which keys mean what comes from
// a Keymap (shortcuts.ts: the defaults, overridden by the user's settings).
import type { Choice } from '$lib/api/types/Choice';
import { DEFAULT_KEYMAP, isKey, type Keymap, type ShortcutId } from './shortcuts';

export interface KeyInput {
  key: string;
  ctrl?: boolean;
  meta?: boolean;
  alt?: boolean;
  shift?: boolean;
  /** Focus is in a textarea or text input: plain keys are typing, not commands. */
  inText?: boolean;
  /** A dialog is open (help, flag): every key is its own, Escape included. */
  modal?: boolean;
}

export function keyInputOf(e: KeyboardEvent): KeyInput {
  const t = e.target as HTMLElement | null;
  const tag = t?.tagName;
  // While a dialog (help, flag) is open its keys are its own: the screen behind takes none.
  const modal = typeof document !== 'undefined' && document.querySelector('dialog[open]') !== null;
  const textInput =
    tag === 'TEXTAREA' ||
    (tag === 'INPUT' && !['checkbox', 'radio', 'button', 'submit', 'range'].includes((t as HTMLInputElement).type)) ||
    tag === 'SELECT' ||
    t?.isContentEditable === true;
  return { key: e.key, ctrl: e.ctrlKey, meta: e.metaKey, alt: e.altKey, shift: e.shiftKey, inText: textInput || modal, modal };
}

export type CommonAction =
  | { type: 'undo' }
  | { type: 'guidelines' }
  | { type: 'critique' }
  | { type: 'skip' }
  | { type: 'flag' }
  | { type: 'raw' }
  | { type: 'help' }
  | { type: 'blur' }
  | { type: 'submit' };

const COMMON: { id: ShortcutId; type: 'undo' | 'guidelines' | 'critique' | 'skip' | 'flag' | 'raw' | 'help' }[] = [
  { id: 'undo', type: 'undo' },
  { id: 'guidelines', type: 'guidelines' },
  { id: 'critique', type: 'critique' },
  { id: 'skip', type: 'skip' },
  { id: 'flag', type: 'flag' },
  { id: 'raw', type: 'raw' },
  { id: 'help', type: 'help' },
];

/** Keys every labeling screen shares. */
export function commonKey(k: KeyInput, map: Keymap = DEFAULT_KEYMAP): CommonAction | null {
  if (k.modal) return null;
  const mod = k.ctrl || k.meta;
  if (mod && !k.alt && k.key === 'Enter') return { type: 'submit' };
  if (k.key === 'Escape' && k.inText) return { type: 'blur' };
  if (k.inText || k.alt) return null;
  if (mod && !k.shift && (k.key === 'z' || k.key === 'Z')) return { type: 'undo' };
  if (mod) return null;
  const common = COMMON.find((c) => isKey(map, c.id, k.key));
  return common ? { type: common.type } : null;
}

/** True for a key press without Ctrl/Meta/Alt outside a text field: a screen's own command. */
function plain(k: KeyInput): boolean {
  return !k.inText && !k.ctrl && !k.meta && !k.alt;
}

/** '1'…'9' → 0…8, else null. */
export function digitIndex(key: string): number | null {
  return /^[1-9]$/.test(key) ? Number(key) - 1 : null;
}

// ---- pairwise ----

export type PairwiseAction =
  | CommonAction
  | { type: 'choose'; choice: Choice }
  | { type: 'strength'; value: 1 | 2 | 3 }
  | { type: 'reason' }
  | { type: 'diff' };

export const PAIRWISE_CHOICES: { action: ShortcutId; choice: Choice; label: string }[] = [
  { action: 'comparison.a', choice: 'a', label: 'A is better' },
  { action: 'comparison.b', choice: 'b', label: 'B is better' },
  { action: 'comparison.tie', choice: 'tie', label: 'Tie' },
  { action: 'comparison.both_bad', choice: 'both_bad', label: 'Both bad' },
];

/**
 * A choice's button label with the two sides named as the screen names them: "A is better"
 * (by default), "Left is better" in the arena; "Tie" and "Both bad" either way.
 */
export function choiceLabel(choice: Choice, sides: readonly [string, string] = ['A', 'B']): string {
  switch (choice) {
    case 'a':
      return `${sides[0]} is better`;
    case 'b':
      return `${sides[1]} is better`;
    case 'tie':
      return 'Tie';
    case 'both_bad':
      return 'Both bad';
  }
}

export const STRENGTH_KEYS: { action: ShortcutId; value: 1 | 2 | 3; label: string }[] = [
  { action: 'comparison.slightly', value: 1, label: 'slightly' },
  { action: 'comparison.clearly', value: 2, label: 'clearly' },
  { action: 'comparison.much', value: 3, label: 'much' },
];

export function pairwiseKey(k: KeyInput, map: Keymap = DEFAULT_KEYMAP): PairwiseAction | null {
  const common = commonKey(k, map);
  if (common) return common;
  if (!plain(k)) return null;
  const choice = PAIRWISE_CHOICES.find((c) => isKey(map, c.action, k.key));
  if (choice) return { type: 'choose', choice: choice.choice };
  const strength = STRENGTH_KEYS.find((s) => isKey(map, s.action, k.key));
  if (strength) return { type: 'strength', value: strength.value };
  if (isKey(map, 'comparison.reason', k.key)) return { type: 'reason' };
  if (isKey(map, 'comparison.diff', k.key)) return { type: 'diff' };
  return null;
}

// ---- ranking ----

export type RankingAction = CommonAction | { type: 'pick'; index: number } | { type: 'unpick' } | { type: 'reset' };

/** `count` responses are shown; number key n picks response n as the next best. */
export function rankingKey(k: KeyInput, count: number, map: Keymap = DEFAULT_KEYMAP): RankingAction | null {
  const common = commonKey(k, map);
  if (common) return common;
  if (!plain(k)) return null;
  const index = digitIndex(k.key);
  if (index !== null) return index < count ? { type: 'pick', index } : null;
  if (isKey(map, 'ranking.back', k.key)) return { type: 'unpick' };
  if (isKey(map, 'ranking.reset', k.key)) return { type: 'reset' };
  if (isKey(map, 'ranking.save', k.key)) return { type: 'submit' };
  return null;
}

// ---- rating ----

export type RatingAction =
  | CommonAction
  | { type: 'score'; value: number }
  | { type: 'step'; delta: 1 | -1 }
  | { type: 'focus'; delta: 1 | -1 };

/** The score a digit key means on the scale min..max ('0' is 10 on a scale that reaches 10). */
export function digitScore(key: string, min: number, max: number): number | null {
  if (!/^[0-9]$/.test(key)) return null;
  let value = Number(key);
  if (value === 0 && min > 0) value = 10;
  return value >= min && value <= max ? value : null;
}

export function ratingKey(k: KeyInput, min: number, max: number, map: Keymap = DEFAULT_KEYMAP): RatingAction | null {
  const common = commonKey(k, map);
  if (common) return common;
  if (!plain(k)) return null;
  const value = digitScore(k.key, min, max);
  if (value !== null) return { type: 'score', value };
  if (isKey(map, 'rating.up', k.key)) return { type: 'focus', delta: -1 };
  if (isKey(map, 'rating.down', k.key)) return { type: 'focus', delta: 1 };
  if (isKey(map, 'rating.lower', k.key)) return { type: 'step', delta: -1 };
  if (isKey(map, 'rating.higher', k.key)) return { type: 'step', delta: 1 };
  if (isKey(map, 'rating.save', k.key)) return { type: 'submit' };
  return null;
}

// ---- edit ----

// No key reverts a rewrite: that takes the Revert button and a confirmation.
export type EditAction = CommonAction | { type: 'edit' } | { type: 'accept' };

export function editKey(k: KeyInput, map: Keymap = DEFAULT_KEYMAP): EditAction | null {
  const common = commonKey(k, map);
  if (common) return common;
  if (!plain(k)) return null;
  if (isKey(map, 'edit.edit', k.key)) return { type: 'edit' };
  if (isKey(map, 'edit.accept', k.key)) return { type: 'accept' };
  if (isKey(map, 'edit.save', k.key)) return { type: 'submit' };
  return null;
}

// ---- span ----

export type SpanAction =
  | CommonAction
  | { type: 'label'; index: number }
  | { type: 'remove-last' }
  | { type: 'note' }
  | { type: 'accept' }
  /** Move the keyboard selection one word (`extend`: grow or shrink it instead). */
  | { type: 'move'; delta: 1 | -1; extend: boolean };

/** `labels` span labels exist; number key n marks the selection with label n. */
export function spanKey(k: KeyInput, labels: number, map: Keymap = DEFAULT_KEYMAP): SpanAction | null {
  const common = commonKey(k, map);
  if (common) return common;
  if (!plain(k)) return null;
  const index = digitIndex(k.key);
  if (index !== null) return index < labels ? { type: 'label', index } : null;
  if (k.key === 'ArrowLeft' || k.key === 'ArrowRight') return { type: 'move', delta: k.key === 'ArrowLeft' ? -1 : 1, extend: k.shift === true };
  if (isKey(map, 'span.accept', k.key)) return { type: 'accept' };
  if (isKey(map, 'span.remove', k.key)) return { type: 'remove-last' };
  if (isKey(map, 'span.note', k.key)) return { type: 'note' };
  if (isKey(map, 'span.save', k.key)) return { type: 'submit' };
  return null;
}

// ---- thumbs ----

export type ThumbsAction = CommonAction | { type: 'thumb'; up: boolean };

export function thumbsKey(k: KeyInput, map: Keymap = DEFAULT_KEYMAP): ThumbsAction | null {
  const common = commonKey(k, map);
  if (common) return common;
  if (!plain(k)) return null;
  if (isKey(map, 'thumbs.up', k.key)) return { type: 'thumb', up: true };
  if (isKey(map, 'thumbs.down', k.key)) return { type: 'thumb', up: false };
  return null;
}

// ---- demonstration ----

export type DemonstrationAction = CommonAction | { type: 'edit' };

export function demonstrationKey(k: KeyInput, map: Keymap = DEFAULT_KEYMAP): DemonstrationAction | null {
  const common = commonKey(k, map);
  if (common) return common;
  if (!plain(k)) return null;
  if (isKey(map, 'demonstration.write', k.key)) return { type: 'edit' };
  if (isKey(map, 'demonstration.save', k.key)) return { type: 'submit' };
  return null;
}

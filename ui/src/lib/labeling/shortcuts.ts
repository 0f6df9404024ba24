// The labeling screens' keyboard shortcuts as data and pure functions: every action a screen
// binds, its default keys, the user's overrides (UiSettings.shortcuts: action → key, only the
// rebound ones) and the effective mapping they make, conflicts, and the hints shown on screen.
// keys.ts turns a key press into an action through the effective mapping.

/** Where an action applies: `common` actions apply on every labeling screen. */
export type ShortcutScreen = 'common' | 'comparison' | 'ranking' | 'rating' | 'edit' | 'span' | 'thumbs' | 'demonstration';

/** The labeling screens (a `common` action is on each of them). */
export const LABEL_SCREENS = ['comparison', 'ranking', 'rating', 'edit', 'span', 'thumbs', 'demonstration'] as const;

export const SHORTCUT_SCREENS: { id: ShortcutScreen; label: string }[] = [
  { id: 'common', label: 'Every labeling screen' },
  { id: 'comparison', label: 'Compare' },
  { id: 'ranking', label: 'Rank' },
  { id: 'rating', label: 'Rate' },
  { id: 'edit', label: 'Edit' },
  { id: 'span', label: 'Spans' },
  { id: 'thumbs', label: 'Thumbs' },
  { id: 'demonstration', label: 'Write' },
];

export interface ShortcutAction {
  id: string;
  screen: ShortcutScreen;
  label: string;
  /** The default keys (`KeyboardEvent.key`, letters lower case); the first one is shown. */
  defaults: readonly string[];
  /**
   * What the key means, the same on every screen: two actions may share a default key only
   * when they share this (Enter saves wherever there is something to save, n writes the
   * note, a accepts the answer as it is, ⌫ takes back the last step). Tested.
   */
  meaning: string;
}

export const SHORTCUT_ACTIONS = [
  { id: 'undo', screen: 'common', label: 'Undo the last judgment', defaults: ['u'], meaning: 'undo' },
  { id: 'guidelines', screen: 'common', label: 'Show or hide the guidelines', defaults: ['g'], meaning: 'guidelines' },
  { id: 'critique', screen: 'common', label: 'Write a critique', defaults: ['c'], meaning: 'critique' },
  { id: 'skip', screen: 'common', label: 'Skip this item (it comes back last)', defaults: ['s'], meaning: 'skip' },
  { id: 'flag', screen: 'common', label: 'Flag this item (broken, off-topic, not my field, unsafe)', defaults: ['f'], meaning: 'flag' },
  { id: 'raw', screen: 'common', label: 'Show the raw text or the formatted answer', defaults: ['m'], meaning: 'raw' },
  { id: 'help', screen: 'common', label: 'Show the keys', defaults: ['?'], meaning: 'help' },

  { id: 'comparison.a', screen: 'comparison', label: 'A is better', defaults: ['1'], meaning: 'option-1' },
  { id: 'comparison.b', screen: 'comparison', label: 'B is better', defaults: ['2'], meaning: 'option-2' },
  { id: 'comparison.tie', screen: 'comparison', label: 'Tie', defaults: ['3'], meaning: 'option-3' },
  { id: 'comparison.both_bad', screen: 'comparison', label: 'Both bad', defaults: ['4'], meaning: 'option-4' },
  { id: 'comparison.slightly', screen: 'comparison', label: 'Strength: slightly', defaults: ['q'], meaning: 'strength-1' },
  { id: 'comparison.clearly', screen: 'comparison', label: 'Strength: clearly', defaults: ['w'], meaning: 'strength-2' },
  { id: 'comparison.much', screen: 'comparison', label: 'Strength: much', defaults: ['e'], meaning: 'strength-3' },
  { id: 'comparison.reason', screen: 'comparison', label: 'Write the reason', defaults: ['n'], meaning: 'note' },
  { id: 'comparison.diff', screen: 'comparison', label: 'Show the differences between A and B', defaults: ['d'], meaning: 'diff' },

  { id: 'ranking.back', screen: 'ranking', label: 'Take back the last pick', defaults: ['Backspace'], meaning: 'take-back' },
  { id: 'ranking.reset', screen: 'ranking', label: 'Start the ranking over', defaults: ['Delete'], meaning: 'start-over' },
  { id: 'ranking.save', screen: 'ranking', label: 'Save the ranking', defaults: ['Enter'], meaning: 'save' },

  { id: 'rating.up', screen: 'rating', label: 'Previous criterion', defaults: ['ArrowUp', 'k'], meaning: 'previous' },
  { id: 'rating.down', screen: 'rating', label: 'Next criterion', defaults: ['ArrowDown', 'j'], meaning: 'next' },
  { id: 'rating.lower', screen: 'rating', label: 'Lower the score', defaults: ['ArrowLeft', '-'], meaning: 'lower' },
  { id: 'rating.higher', screen: 'rating', label: 'Raise the score', defaults: ['ArrowRight', '+', '='], meaning: 'higher' },
  { id: 'rating.save', screen: 'rating', label: 'Save the rating', defaults: ['Enter'], meaning: 'save' },

  { id: 'edit.edit', screen: 'edit', label: 'Go to the editor', defaults: ['i'], meaning: 'editor' },
  { id: 'edit.accept', screen: 'edit', label: 'Already good: accept the answer as it is', defaults: ['a'], meaning: 'accept' },
  { id: 'edit.save', screen: 'edit', label: 'Save the edit', defaults: ['Enter'], meaning: 'save' },

  { id: 'span.accept', screen: 'span', label: 'Nothing wrong: accept the answer as it is', defaults: ['a'], meaning: 'accept' },
  { id: 'span.remove', screen: 'span', label: 'Remove the last mark (restorable)', defaults: ['Backspace'], meaning: 'take-back' },
  { id: 'span.note', screen: 'span', label: "Write the last mark's note", defaults: ['n'], meaning: 'note' },
  { id: 'span.save', screen: 'span', label: 'Save the marks', defaults: ['Enter'], meaning: 'save' },

  { id: 'thumbs.up', screen: 'thumbs', label: 'Thumbs up: a good answer', defaults: ['1'], meaning: 'option-1' },
  { id: 'thumbs.down', screen: 'thumbs', label: 'Thumbs down: a bad answer', defaults: ['2'], meaning: 'option-2' },

  { id: 'demonstration.write', screen: 'demonstration', label: 'Go to the editor', defaults: ['i'], meaning: 'editor' },
  { id: 'demonstration.save', screen: 'demonstration', label: 'Save the answer', defaults: ['Enter'], meaning: 'save' },
] as const satisfies readonly ShortcutAction[];

export type ShortcutId = (typeof SHORTCUT_ACTIONS)[number]['id'];

/** Keys a screen keeps for itself: they cannot be given to an action (shown as "fixed"). */
export interface FixedKeys {
  screen: ShortcutScreen;
  label: string;
  /** How the table shows them. */
  display: string;
  /** The single keys taken (none for combinations with Ctrl/⌘, which never collide). */
  keys: readonly string[];
}

const DIGITS_1_9 = ['1', '2', '3', '4', '5', '6', '7', '8', '9'];

export const FIXED_KEYS: FixedKeys[] = [
  { screen: 'common', label: 'Undo the last judgment', display: 'Ctrl/⌘+Z', keys: [] },
  { screen: 'common', label: 'Leave a text field', display: 'Esc', keys: ['Escape'] },
  { screen: 'common', label: 'Save (also from a text field)', display: 'Ctrl/⌘+Enter', keys: [] },
  { screen: 'ranking', label: 'Pick answer n as the next best', display: '1…9', keys: DIGITS_1_9 },
  { screen: 'rating', label: 'Score the focused criterion', display: '0…9', keys: ['0', ...DIGITS_1_9] },
  { screen: 'span', label: 'Label the selection with label n', display: '1…9', keys: DIGITS_1_9 },
  { screen: 'span', label: 'Move the keyboard selection by a word (Shift: extend it)', display: '← → / Shift+← →', keys: ['ArrowLeft', 'ArrowRight'] },
];

/** UiSettings.shortcuts: action → key, for the rebound actions only. */
export type Shortcuts = { [action in string]?: string };

/** The effective keys of every action. */
export type Keymap = Readonly<Record<ShortcutId, readonly string[]>>;

const ACTIONS: readonly ShortcutAction[] = SHORTCUT_ACTIONS;

export function actionById(id: string): ShortcutAction | undefined {
  return ACTIONS.find((a) => a.id === id);
}

/** Letters match whatever the case (Shift, Caps Lock); other keys as they are. */
export function normalizeKey(key: string): string {
  return key.length === 1 ? key.toLowerCase() : key;
}

/** The defaults, with each rebound action's keys replaced by its one key. */
export function keymapOf(shortcuts: Shortcuts): Keymap {
  const map = {} as Record<ShortcutId, readonly string[]>;
  for (const action of SHORTCUT_ACTIONS) {
    const override = shortcuts[action.id];
    map[action.id] = typeof override === 'string' && override !== '' ? [normalizeKey(override)] : action.defaults;
  }
  return map;
}

export const DEFAULT_KEYMAP: Keymap = keymapOf({});

/** Whether the key pressed is one of the action's keys. */
export function isKey(map: Keymap, id: ShortcutId, key: string): boolean {
  return map[id].includes(normalizeKey(key));
}

const KEY_NAMES: Record<string, string> = {
  ' ': 'Space',
  ArrowUp: '↑',
  ArrowDown: '↓',
  ArrowLeft: '←',
  ArrowRight: '→',
  Backspace: '⌫',
  Delete: 'Del',
  Escape: 'Esc',
  PageUp: 'PgUp',
  PageDown: 'PgDn',
};

/** A key as a `<kbd>` shows it. */
export function keyLabel(key: string): string {
  return KEY_NAMES[key] ?? key;
}

/** The key shown for an action on the labeling screens (its first key). */
export function keyHint(map: Keymap, id: ShortcutId): string {
  return keyLabel(map[id][0]);
}

/** Whether the user rebound the action. */
export function isRebound(shortcuts: Shortcuts, id: string): boolean {
  const key = shortcuts[id];
  return typeof key === 'string' && key !== '';
}

interface Owner {
  /** An action id, or null for a screen's fixed keys. */
  id: ShortcutId | null;
  label: string;
  screen: ShortcutScreen;
  keys: readonly string[];
}

/** Everything that takes keys on a labeling screen: its actions, the common ones, the fixed keys. */
function owners(map: Keymap, screen: (typeof LABEL_SCREENS)[number]): Owner[] {
  const on = (s: ShortcutScreen) => s === 'common' || s === screen;
  return [
    ...SHORTCUT_ACTIONS.filter((a) => on(a.screen)).map((a) => ({ id: a.id, label: a.label, screen: a.screen, keys: map[a.id] })),
    ...FIXED_KEYS.filter((f) => on(f.screen) && f.keys.length > 0).map((f) => ({ id: null, label: f.label, screen: f.screen, keys: f.keys })),
  ];
}

function screenLabel(screen: ShortcutScreen): string {
  return screen === 'common' ? 'every labeling screen' : `the ${SHORTCUT_SCREENS.find((s) => s.id === screen)?.label ?? screen} screen`;
}

export interface Conflict {
  key: string;
  /** The labeling screen where both apply. */
  screen: ShortcutScreen;
  /** The two actions (ids; null for a fixed key) and their labels. */
  first: { id: ShortcutId | null; label: string };
  second: { id: ShortcutId | null; label: string };
  message: string;
}

function conflictMessage(key: string, taken: Owner, wanted: { label: string }): string {
  const what = taken.id === null ? 'is kept for' : 'is already';
  return `${keyLabel(key)} ${what} “${taken.label}” on ${screenLabel(taken.screen)}: choose another key for “${wanted.label}”.`;
}

/** Every key that two actions (or an action and a fixed key) of one screen share. */
export function findConflicts(shortcuts: Shortcuts): Conflict[] {
  const map = keymapOf(shortcuts);
  const found: Conflict[] = [];
  const seen = new Set<string>();
  for (const screen of LABEL_SCREENS) {
    const list = owners(map, screen);
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) {
        for (const key of list[i].keys) {
          if (!list[j].keys.includes(key)) continue;
          // A clash of two common actions shows on every screen: report it once.
          const where = list[i].screen === 'common' && list[j].screen === 'common' ? 'common' : screen;
          const id = `${where}|${list[i].label}|${list[j].label}|${key}`;
          if (seen.has(id)) continue;
          seen.add(id);
          const [taken, wanted] = list[j].id === null ? [list[j], list[i]] : [list[i], list[j]];
          found.push({
            key,
            screen: where,
            first: { id: list[i].id, label: list[i].label },
            second: { id: list[j].id, label: list[j].label },
            message: conflictMessage(key, taken, wanted),
          });
        }
      }
    }
  }
  return found;
}

export interface KeyPress {
  key: string;
  ctrl?: boolean;
  meta?: boolean;
  alt?: boolean;
}

const MODIFIERS = ['Shift', 'Control', 'Alt', 'AltGraph', 'Meta', 'OS', 'Super', 'Hyper', 'Fn', 'FnLock', 'CapsLock', 'NumLock', 'ScrollLock'];

/** Modifier keys alone: a capture waits for the key they go with. */
export function isModifierOnly(key: string): boolean {
  return MODIFIERS.includes(key);
}

/** Why a key press cannot be a shortcut, or null when it can. */
export function refusal(press: KeyPress): string | null {
  if (press.ctrl || press.meta || press.alt) return 'Shortcuts are single keys, without Ctrl, ⌘ or Alt.';
  if (press.key === 'Escape') return 'Esc is kept for leaving a text field.';
  if (press.key === 'Tab') return 'Tab moves between fields; choose another key.';
  if (press.key === '' || ['Unidentified', 'Dead', 'Process', 'Compose'].includes(press.key) || isModifierOnly(press.key)) {
    return 'That key cannot be told apart reliably; choose another one.';
  }
  return null;
}

export type Rebound = { ok: true; shortcuts: Shortcuts } | { ok: false; message: string };

/**
 * Gives action `id` the key pressed: the new overrides, or why not (a key with modifiers, or
 * one another action of a screen where this one applies already has). Choosing the action's
 * default key drops the override (the defaults come back, alternates included).
 */
export function rebind(shortcuts: Shortcuts, id: string, press: KeyPress | string): Rebound {
  const action = actionById(id);
  if (!action) return { ok: false, message: `There is no shortcut “${id}”.` };
  const p = typeof press === 'string' ? { key: press } : press;
  const why = refusal(p);
  if (why) return { ok: false, message: why };
  const key = normalizeKey(p.key);
  const next: Shortcuts = { ...shortcuts };
  if (key === action.defaults[0]) delete next[id];
  else next[id] = key;
  const conflict = conflictOf(next, action);
  return conflict ? { ok: false, message: conflict } : { ok: true, shortcuts: next };
}

/** The action's default keys back (refused when another action took one of them meanwhile). */
export function resetShortcut(shortcuts: Shortcuts, id: string): Rebound {
  const action = actionById(id);
  if (!action) return { ok: false, message: `There is no shortcut “${id}”.` };
  const next: Shortcuts = { ...shortcuts };
  delete next[id];
  const conflict = conflictOf(next, action);
  return conflict ? { ok: false, message: conflict } : { ok: true, shortcuts: next };
}

/** Every action's default keys (the overrides of unknown actions go too). */
export function resetShortcuts(): Shortcuts {
  return {};
}

/** The first clash of `action`'s keys in `shortcuts`, as a sentence. */
function conflictOf(shortcuts: Shortcuts, action: ShortcutAction): string | null {
  const map = keymapOf(shortcuts);
  const mine = map[action.id as ShortcutId];
  const screens = action.screen === 'common' ? LABEL_SCREENS : LABEL_SCREENS.filter((s) => s === action.screen);
  for (const screen of screens) {
    for (const other of owners(map, screen)) {
      if (other.id === action.id) continue;
      const key = mine.find((k) => other.keys.includes(k));
      if (key !== undefined) return conflictMessage(key, other, action);
    }
  }
  return null;
}

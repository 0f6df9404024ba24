import { describe, expect, it } from 'vitest';
import { commonKey, editKey, pairwiseKey, rankingKey, ratingKey, spanKey } from './keys';
import {
  DEFAULT_KEYMAP,
  FIXED_KEYS,
  findConflicts,
  keyHint,
  keyLabel,
  keymapOf,
  LABEL_SCREENS,
  rebind,
  refusal,
  resetShortcut,
  resetShortcuts,
  SHORTCUT_ACTIONS,
  type Shortcuts,
} from './shortcuts';

function rebound(shortcuts: Shortcuts, id: string, key: string): Shortcuts {
  const r = rebind(shortcuts, id, key);
  if (!r.ok) throw new Error(r.message);
  return r.shortcuts;
}

describe('the default shortcuts', () => {
  it('are the keys the screens always had, without a conflict', () => {
    expect(DEFAULT_KEYMAP['comparison.a']).toEqual(['1']);
    expect(DEFAULT_KEYMAP.undo).toEqual(['u']);
    expect(DEFAULT_KEYMAP['rating.up']).toEqual(['ArrowUp', 'k']);
    expect(findConflicts({})).toEqual([]);
  });

  it('list every action once, each on a known screen', () => {
    const ids = SHORTCUT_ACTIONS.map((a) => a.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const a of SHORTCUT_ACTIONS) expect(['common', ...LABEL_SCREENS]).toContain(a.screen);
    for (const f of FIXED_KEYS) expect(['common', ...LABEL_SCREENS]).toContain(f.screen);
  });
});

describe('an override', () => {
  it('replaces the keys of its action, and only that one', () => {
    const map = keymapOf({ 'comparison.a': 'a', 'rating.up': 'i' });
    expect(map['comparison.a']).toEqual(['a']);
    expect(map['rating.up']).toEqual(['i']); // the alternates go with it
    expect(map['comparison.b']).toEqual(['2']);
    expect(map.undo).toEqual(['u']);
  });

  it('applies to the key presses of the screens', () => {
    const map = keymapOf({ 'comparison.a': 'a', undo: 'z', 'ranking.save': ' ', 'rating.save': 'x', 'edit.edit': 'x', 'span.note': 'y' });
    expect(pairwiseKey({ key: 'a' }, map)).toEqual({ type: 'choose', choice: 'a' });
    expect(pairwiseKey({ key: 'A', shift: true }, map)).toEqual({ type: 'choose', choice: 'a' }); // Caps Lock / Shift
    expect(pairwiseKey({ key: '1' }, map)).toBeNull(); // the old key is free
    expect(pairwiseKey({ key: '2' }, map)).toEqual({ type: 'choose', choice: 'b' });
    expect(commonKey({ key: 'z' }, map)).toEqual({ type: 'undo' });
    expect(commonKey({ key: 'u' }, map)).toBeNull();
    expect(commonKey({ key: 'z', ctrl: true }, map)).toEqual({ type: 'undo' }); // Ctrl+Z stays
    expect(rankingKey({ key: ' ' }, 3, map)).toEqual({ type: 'submit' });
    expect(rankingKey({ key: 'Enter' }, 3, map)).toBeNull();
    expect(ratingKey({ key: 'x' }, 1, 5, map)).toEqual({ type: 'submit' });
    expect(editKey({ key: 'x' }, map)).toEqual({ type: 'edit' });
    expect(spanKey({ key: 'y' }, 2, map)).toEqual({ type: 'note' });
    expect(spanKey({ key: 'y', inText: true }, 2, map)).toBeNull(); // typing stays typing
  });

  it('is stored only while it differs from the default', () => {
    const once = rebound({}, 'comparison.a', 'a');
    expect(once).toEqual({ 'comparison.a': 'a' });
    expect(rebound(once, 'comparison.a', '1')).toEqual({});
    expect(rebound({}, 'comparison.reason', 'T')).toEqual({ 'comparison.reason': 't' }); // letters lower case
  });
});

describe('conflicts', () => {
  it('refuse a key another action of the same screen has, naming it', () => {
    const r = rebind({}, 'comparison.a', '2');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toBe('2 is already “B is better” on the Compare screen: choose another key for “A is better”.');
  });

  it('count the common actions on every screen, both ways', () => {
    const taken = rebind({}, 'comparison.reason', 'u');
    expect(taken.ok).toBe(false);
    if (!taken.ok) expect(taken.message).toContain('“Undo the last judgment” on every labeling screen');
    const mine = rebind({}, 'undo', 'd'); // comparison's differences
    expect(mine.ok).toBe(false);
    if (!mine.ok) expect(mine.message).toContain('on the Compare screen');
  });

  it('refuse the keys a screen keeps for itself', () => {
    const r = rebind({}, 'ranking.save', '3');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toBe('3 is kept for “Pick answer n as the next best” on the Rank screen: choose another key for “Save the ranking”.');
    expect(rebind({}, 'span.note', 'Escape').ok).toBe(false);
  });

  it('allow the same key on different screens', () => {
    // The defaults give a key one meaning everywhere, but a user may choose otherwise.
    expect(rebind({}, 'comparison.reason', 'x').ok).toBe(true);
    expect(rebound({}, 'edit.edit', 'q')).toEqual({ 'edit.edit': 'q' }); // q is a compare key only
  });

  it('refuse keys with modifiers and keys that cannot be told apart', () => {
    expect(refusal({ key: 'a', ctrl: true })).toMatch(/without Ctrl/);
    expect(refusal({ key: 'a', alt: true })).toMatch(/without Ctrl/);
    expect(refusal({ key: 'Tab' })).toMatch(/Tab/);
    expect(refusal({ key: 'Dead' })).not.toBeNull();
    expect(refusal({ key: 'a' })).toBeNull();
    expect(rebind({}, 'undo', { key: 'y', meta: true }).ok).toBe(false);
  });

  it('are found in stored settings that clash (an older version, a hand-edited file)', () => {
    const clashes = findConflicts({ 'comparison.a': 'n', undo: 'g' });
    expect(clashes.map((c) => [c.key, c.screen, c.first.label, c.second.label])).toEqual([
      ['g', 'common', 'Undo the last judgment', 'Show or hide the guidelines'],
      ['n', 'comparison', 'A is better', 'Write the reason'],
    ]);
  });
});

describe('reset', () => {
  it('brings every default back', () => {
    expect(resetShortcuts()).toEqual({});
    expect(keymapOf(resetShortcuts())).toEqual(DEFAULT_KEYMAP);
  });

  it('brings one default back, unless another action took its key meanwhile', () => {
    const moved = rebound(rebound({}, 'undo', 'z'), 'comparison.reason', 'u');
    expect(resetShortcut(moved, 'comparison.reason')).toEqual({ ok: true, shortcuts: { undo: 'z' } });
    const r = resetShortcut(moved, 'undo');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toContain('“Write the reason”');
  });
});

describe('hints', () => {
  it('show the key in effect, rebound or not', () => {
    expect(keyHint(DEFAULT_KEYMAP, 'comparison.a')).toBe('1');
    expect(keyHint(keymapOf({ 'comparison.a': 'a' }), 'comparison.a')).toBe('a');
    expect(keyHint(keymapOf({ undo: 'Backspace' }), 'undo')).toBe('⌫');
    expect(keyHint(DEFAULT_KEYMAP, 'rating.up')).toBe('↑');
  });

  it('name the keys that have no letter', () => {
    expect(keyLabel(' ')).toBe('Space');
    expect(keyLabel('ArrowRight')).toBe('→');
    expect(keyLabel('Delete')).toBe('Del');
    expect(keyLabel('x')).toBe('x');
  });
});

describe('one key, one meaning', () => {
  it('gives a default key the same meaning on every screen', () => {
    const meaningOf = new Map<string, { meaning: string; id: string }>();
    for (const action of SHORTCUT_ACTIONS) {
      for (const key of action.defaults) {
        const seen = meaningOf.get(key);
        if (seen) expect(`${key}: ${action.id} means ${action.meaning}`).toBe(`${key}: ${action.id} means ${seen.meaning}`);
        else meaningOf.set(key, { meaning: action.meaning, id: action.id });
      }
    }
    expect(meaningOf.get('Enter')?.meaning).toBe('save');
  });

  it('has no conflicts with the defaults', () => {
    expect(findConflicts({})).toEqual([]);
  });
});

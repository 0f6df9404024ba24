import { describe, expect, it } from 'vitest';
import { choiceLabel, commonKey, demonstrationKey, digitScore, editKey, PAIRWISE_CHOICES, pairwiseKey, rankingKey, ratingKey, spanKey, thumbsKey } from './keys';

describe('common keys', () => {
  it('maps u, Ctrl+Z and Cmd+Z to undo, g to guidelines, c to critique', () => {
    expect(commonKey({ key: 'u' })).toEqual({ type: 'undo' });
    expect(commonKey({ key: 'z', ctrl: true })).toEqual({ type: 'undo' });
    expect(commonKey({ key: 'z', meta: true })).toEqual({ type: 'undo' });
    expect(commonKey({ key: 'g' })).toEqual({ type: 'guidelines' });
    expect(commonKey({ key: 'c' })).toEqual({ type: 'critique' });
  });

  it('skips with s, flags with f, toggles the raw text with m and shows the keys with ?', () => {
    expect(commonKey({ key: 's' })).toEqual({ type: 'skip' });
    expect(commonKey({ key: 'f' })).toEqual({ type: 'flag' });
    expect(commonKey({ key: 'm' })).toEqual({ type: 'raw' });
    expect(commonKey({ key: '?', shift: true })).toEqual({ type: 'help' });
    expect(commonKey({ key: 's', inText: true })).toBeNull();
  });

  it('leaves every key to an open dialog, Escape and digits included', () => {
    expect(commonKey({ key: 'Escape', inText: true, modal: true })).toBeNull();
    expect(pairwiseKey({ key: '1', inText: true, modal: true })).toBeNull();
    expect(commonKey({ key: 'Enter', ctrl: true, inText: true, modal: true })).toBeNull();
  });

  it('leaves typing alone in a text field, but Escape leaves it and Ctrl+Enter submits', () => {
    expect(commonKey({ key: 'u', inText: true })).toBeNull();
    expect(commonKey({ key: 'z', ctrl: true, inText: true })).toBeNull(); // the field's own undo
    expect(commonKey({ key: 'Escape', inText: true })).toEqual({ type: 'blur' });
    expect(commonKey({ key: 'Enter', ctrl: true, inText: true })).toEqual({ type: 'submit' });
  });

  it('does not take Ctrl+Shift+Z (redo) or Alt combinations', () => {
    expect(commonKey({ key: 'z', ctrl: true, shift: true })).toBeNull();
    expect(commonKey({ key: 'g', alt: true })).toBeNull();
    expect(commonKey({ key: 'g', ctrl: true })).toBeNull();
  });
});

describe('pairwise keys', () => {
  it('maps 1 2 3 4 to a, b, tie, both bad', () => {
    expect(pairwiseKey({ key: '1' })).toEqual({ type: 'choose', choice: 'a' });
    expect(pairwiseKey({ key: '2' })).toEqual({ type: 'choose', choice: 'b' });
    expect(pairwiseKey({ key: '3' })).toEqual({ type: 'choose', choice: 'tie' });
    expect(pairwiseKey({ key: '4' })).toEqual({ type: 'choose', choice: 'both_bad' });
    expect(pairwiseKey({ key: '5' })).toBeNull();
  });

  it('sets the strength with q w e, focuses the reason with n and shows the differences with d', () => {
    expect(pairwiseKey({ key: 'q' })).toEqual({ type: 'strength', value: 1 });
    expect(pairwiseKey({ key: 'E', shift: true })).toEqual({ type: 'strength', value: 3 });
    expect(pairwiseKey({ key: 'n' })).toEqual({ type: 'reason' });
    expect(pairwiseKey({ key: 'd' })).toEqual({ type: 'diff' });
    expect(pairwiseKey({ key: 'r' })).toBeNull();
  });

  it('does not choose while typing a reason', () => {
    expect(pairwiseKey({ key: '1', inText: true })).toBeNull();
    expect(pairwiseKey({ key: '1', ctrl: true })).toBeNull();
  });
});

describe('choiceLabel', () => {
  it('reads as the pairwise choices by default', () => {
    for (const c of PAIRWISE_CHOICES) expect(choiceLabel(c.choice)).toBe(c.label);
  });
  it('names the sides as the screen does, and leaves tie and both bad alone', () => {
    const sides: [string, string] = ['Left', 'Right'];
    expect(PAIRWISE_CHOICES.map((c) => choiceLabel(c.choice, sides))).toEqual(['Left is better', 'Right is better', 'Tie', 'Both bad']);
  });
});

describe('ranking keys', () => {
  it('picks shown responses by number, only those that exist', () => {
    expect(rankingKey({ key: '1' }, 4)).toEqual({ type: 'pick', index: 0 });
    expect(rankingKey({ key: '4' }, 4)).toEqual({ type: 'pick', index: 3 });
    expect(rankingKey({ key: '5' }, 4)).toBeNull();
  });

  it('takes back with Backspace, resets with Delete, submits with Enter', () => {
    expect(rankingKey({ key: 'Backspace' }, 3)).toEqual({ type: 'unpick' });
    expect(rankingKey({ key: 'Delete' }, 3)).toEqual({ type: 'reset' });
    expect(rankingKey({ key: '0' }, 3)).toBeNull();
    expect(rankingKey({ key: 'Enter' }, 3)).toEqual({ type: 'submit' });
    expect(rankingKey({ key: 'Backspace', inText: true }, 3)).toBeNull();
  });
});

describe('rating keys', () => {
  it('scores the focused criterion with digits inside the scale', () => {
    expect(ratingKey({ key: '5' }, 1, 7)).toEqual({ type: 'score', value: 5 });
    expect(ratingKey({ key: '8' }, 1, 7)).toBeNull();
    expect(ratingKey({ key: '0' }, 0, 4)).toEqual({ type: 'score', value: 0 });
  });

  it('moves between criteria and steps the score with arrows', () => {
    expect(ratingKey({ key: 'ArrowDown' }, 1, 5)).toEqual({ type: 'focus', delta: 1 });
    expect(ratingKey({ key: 'k' }, 1, 5)).toEqual({ type: 'focus', delta: -1 });
    expect(ratingKey({ key: 'ArrowRight' }, 1, 5)).toEqual({ type: 'step', delta: 1 });
    expect(ratingKey({ key: '-' }, 1, 5)).toEqual({ type: 'step', delta: -1 });
    expect(ratingKey({ key: 'Enter' }, 1, 5)).toEqual({ type: 'submit' });
  });

  it('reads 0 as 10 on a scale that reaches 10', () => {
    expect(digitScore('0', 1, 10)).toBe(10);
    expect(digitScore('0', 1, 7)).toBeNull();
    expect(digitScore('x', 1, 7)).toBeNull();
  });
});

describe('edit keys', () => {
  it('enters the editor with i, accepts with a, saves with Enter; no key reverts', () => {
    expect(editKey({ key: 'i' })).toEqual({ type: 'edit' });
    expect(editKey({ key: 'a' })).toEqual({ type: 'accept' });
    expect(editKey({ key: 'Enter' })).toEqual({ type: 'submit' });
    expect(editKey({ key: 'r' })).toBeNull();
    expect(editKey({ key: 'e' })).toBeNull();
  });

  it('submits with Ctrl+Enter from inside the editor and leaves other keys to typing', () => {
    expect(editKey({ key: 'Enter', ctrl: true, inText: true })).toEqual({ type: 'submit' });
    expect(editKey({ key: 'Enter', inText: true })).toBeNull();
    expect(editKey({ key: 'i', inText: true })).toBeNull();
  });
});

describe('span keys', () => {
  it('labels the selection with the label of the number pressed', () => {
    expect(spanKey({ key: '1' }, 4)).toEqual({ type: 'label', index: 0 });
    expect(spanKey({ key: '4' }, 4)).toEqual({ type: 'label', index: 3 });
    expect(spanKey({ key: '5' }, 4)).toBeNull();
  });

  it('removes the last mark, focuses its note, submits', () => {
    expect(spanKey({ key: 'Backspace' }, 2)).toEqual({ type: 'remove-last' });
    expect(spanKey({ key: 'n' }, 2)).toEqual({ type: 'note' });
    expect(spanKey({ key: 'Enter' }, 2)).toEqual({ type: 'submit' });
    expect(spanKey({ key: 'g' }, 2)).toEqual({ type: 'guidelines' });
    expect(spanKey({ key: 'a' }, 2)).toEqual({ type: 'accept' });
  });

  it('moves and extends the keyboard selection with the arrows', () => {
    expect(spanKey({ key: 'ArrowRight' }, 2)).toEqual({ type: 'move', delta: 1, extend: false });
    expect(spanKey({ key: 'ArrowLeft', shift: true }, 2)).toEqual({ type: 'move', delta: -1, extend: true });
    expect(spanKey({ key: 'ArrowLeft', inText: true }, 2)).toBeNull();
  });
});

describe('thumbs and demonstration keys', () => {
  it('give a thumb with 1 (up) and 2 (down)', () => {
    expect(thumbsKey({ key: '1' })).toEqual({ type: 'thumb', up: true });
    expect(thumbsKey({ key: '2' })).toEqual({ type: 'thumb', up: false });
    expect(thumbsKey({ key: '3' })).toBeNull();
    expect(thumbsKey({ key: '1', inText: true })).toBeNull();
  });

  it('enter the editor with i and save with Enter (Ctrl+Enter while writing)', () => {
    expect(demonstrationKey({ key: 'i' })).toEqual({ type: 'edit' });
    expect(demonstrationKey({ key: 'Enter' })).toEqual({ type: 'submit' });
    expect(demonstrationKey({ key: 'Enter', inText: true })).toBeNull();
    expect(demonstrationKey({ key: 'Enter', ctrl: true, inText: true })).toEqual({ type: 'submit' });
  });
});

import { describe, expect, it } from 'vitest';
import { choiceLabel, commonKey, digitScore, editKey, PAIRWISE_CHOICES, pairwiseKey, rankingKey, ratingKey, spanKey } from './keys';

describe('common keys', () => {
  it('maps u, Ctrl+Z and Cmd+Z to undo, g to guidelines, c to critique', () => {
    expect(commonKey({ key: 'u' })).toEqual({ type: 'undo' });
    expect(commonKey({ key: 'z', ctrl: true })).toEqual({ type: 'undo' });
    expect(commonKey({ key: 'z', meta: true })).toEqual({ type: 'undo' });
    expect(commonKey({ key: 'g' })).toEqual({ type: 'guidelines' });
    expect(commonKey({ key: 'c' })).toEqual({ type: 'critique' });
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

  it('sets the strength with q w e and focuses the reason with r', () => {
    expect(pairwiseKey({ key: 'q' })).toEqual({ type: 'strength', value: 1 });
    expect(pairwiseKey({ key: 'E', shift: true })).toEqual({ type: 'strength', value: 3 });
    expect(pairwiseKey({ key: 'r' })).toEqual({ type: 'reason' });
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

  it('takes back with Backspace, resets with 0, submits with Enter', () => {
    expect(rankingKey({ key: 'Backspace' }, 3)).toEqual({ type: 'unpick' });
    expect(rankingKey({ key: '0' }, 3)).toEqual({ type: 'reset' });
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
  it('enters the editor with e or Enter and reverts with r', () => {
    expect(editKey({ key: 'e' })).toEqual({ type: 'edit' });
    expect(editKey({ key: 'Enter' })).toEqual({ type: 'edit' });
    expect(editKey({ key: 'r' })).toEqual({ type: 'revert' });
  });

  it('submits with Ctrl+Enter from inside the editor and leaves other keys to typing', () => {
    expect(editKey({ key: 'Enter', ctrl: true, inText: true })).toEqual({ type: 'submit' });
    expect(editKey({ key: 'Enter', inText: true })).toBeNull();
    expect(editKey({ key: 'e', inText: true })).toBeNull();
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
  });
});

import { describe, expect, it } from 'vitest';
import { markText, moveSelection, scalarToUtf16, segments, selectionRange, selectionToRange, utf16ToScalar, wordRanges } from './spans';

const emoji = 'a😀b'; // 😀 is 2 UTF-16 units, 1 scalar

describe('offsets', () => {
  it('counts an astral character once in scalars and twice in UTF-16', () => {
    expect(emoji.length).toBe(4);
    expect(utf16ToScalar(emoji, 1)).toBe(1);
    expect(utf16ToScalar(emoji, 3)).toBe(2);
    expect(utf16ToScalar(emoji, 4)).toBe(3);
    expect(scalarToUtf16(emoji, 2)).toBe(3);
    expect(scalarToUtf16(emoji, 3)).toBe(4);
  });

  it('round-trips every character boundary', () => {
    const text = 'Zürich 😀 naïve 🇨🇭!';
    for (let s = 0; s <= [...text].length; s++) expect(utf16ToScalar(text, scalarToUtf16(text, s))).toBe(s);
  });
});

describe('selectionToRange', () => {
  it('trims whitespace, orders the ends and converts to scalars', () => {
    const text = 'x 😀 wrong answer ';
    // The DOM reports UTF-16 offsets; 'wrong' starts at UTF-16 5, scalar 4.
    expect(selectionToRange(text, 17, 4)).toEqual({ start: 4, end: 16 });
    expect(selectionToRange(text, 1, 2)).toBeNull();
  });
});

describe('segments', () => {
  it('cuts the text at mark boundaries, overlaps included', () => {
    const text = 'one two three';
    const marks = [
      { start: 0, end: 7, label: 'a', note: '' },
      { start: 4, end: 13, label: 'b', note: '' },
    ];
    expect(segments(text, marks)).toEqual([
      { text: 'one ', marks: [0] },
      { text: 'two', marks: [0, 1] },
      { text: ' three', marks: [1] },
    ]);
    expect(segments(text, []).map((s) => s.text).join('')).toBe(text);
  });

  it('cuts by scalars when the text has astral characters', () => {
    const marks = [{ start: 1, end: 2, label: 'x', note: '' }];
    expect(segments(emoji, marks)).toEqual([
      { text: 'a', marks: [] },
      { text: '😀', marks: [0] },
      { text: 'b', marks: [] },
    ]);
    expect(markText(emoji, marks[0])).toBe('😀');
  });
});

describe('keyboard selection', () => {
  const text = 'The 🦀 crab  is red.';
  const words = wordRanges(text);

  it('steps over words', () => {
    expect(words.map((w) => text.slice(w.from, w.to))).toEqual(['The', '🦀', 'crab', 'is', 'red.']);
    expect(wordRanges('   ')).toEqual([]);
  });

  it('starts at the first word, moves, extends and stays inside the text', () => {
    let sel = moveSelection(null, words.length, 1, false);
    expect(sel).toEqual({ anchor: 0, focus: 0 });
    sel = moveSelection(sel, words.length, -1, false);
    expect(sel).toEqual({ anchor: 0, focus: 0 });
    sel = moveSelection(sel, words.length, 1, false);
    sel = moveSelection(sel, words.length, 1, true);
    expect(sel).toEqual({ anchor: 1, focus: 2 });
    sel = moveSelection(sel, words.length, 1, true);
    sel = moveSelection(sel, words.length, 1, true);
    sel = moveSelection(sel, words.length, 1, true);
    expect(sel).toEqual({ anchor: 1, focus: 4 });
    expect(moveSelection(null, 0, 1, false)).toBeNull();
  });

  it('gives the mark range in scalars, whichever way it was extended', () => {
    const range = selectionRange(text, words, { anchor: 2, focus: 1 });
    expect(range).toEqual({ start: 4, end: 10 });
    expect(markText(text, { ...range, label: 'x', note: '' })).toBe('🦀 crab');
  });
});

import { describe, expect, it } from 'vitest';
import { diffStats, diffWords, sideText, tokenize } from './diff';

describe('tokenize', () => {
  it('keeps whitespace so that the tokens join back into the text', () => {
    const text = '  Open  Settings,\nthen\tclick Reset. ';
    expect(tokenize(text).join('')).toBe(text);
    expect(tokenize('a b')).toEqual(['a', ' ', 'b']);
    expect(tokenize('')).toEqual([]);
  });
});

describe('diffWords', () => {
  it('gives one equal part for identical texts', () => {
    expect(diffWords('same text here', 'same text here')).toEqual([{ op: 'equal', text: 'same text here' }]);
  });

  it('marks a replaced word as a deletion then an insertion', () => {
    expect(diffWords('Open the Settings page', 'Open the Account page')).toEqual([
      { op: 'equal', text: 'Open the ' },
      { op: 'delete', text: 'Settings' },
      { op: 'insert', text: 'Account' },
      { op: 'equal', text: ' page' },
    ]);
  });

  it('finds an insertion and a deletion in the same text', () => {
    const parts = diffWords('please click reset now', 'click the reset button now');
    const words = (op: string) => parts.filter((p) => p.op === op).map((p) => p.text.trim());
    expect(words('delete')).toEqual(['please']);
    expect(words('insert')).toEqual(['the', 'button']);
    expect(words('equal')).toEqual(['click', 'reset', 'now']);
  });

  it('handles empty sides', () => {
    expect(diffWords('', 'new answer')).toEqual([{ op: 'insert', text: 'new answer' }]);
    expect(diffWords('old answer', '')).toEqual([{ op: 'delete', text: 'old answer' }]);
    expect(diffWords('', '')).toEqual([]);
  });

  it('always rebuilds both sides exactly', () => {
    const cases: [string, string][] = [
      ['The cat sat on the mat.', 'A cat sat on a red mat!'],
      ['one two three four five', 'five four three two one'],
      ['Ünïcödé 😀 text', 'Ünïcödé text 😀 more'],
      ['line one\nline two\n', 'line one\nline 2\nline three\n'],
    ];
    for (const [before, after] of cases) {
      const parts = diffWords(before, after);
      expect(sideText(parts, 'before')).toBe(before);
      expect(sideText(parts, 'after')).toBe(after);
      // No two neighbours share an op (parts are merged).
      for (let i = 1; i < parts.length; i++) expect(parts[i].op).not.toBe(parts[i - 1].op);
    }
  });

  it('is minimal on a reordering: keeps the longest common run', () => {
    const parts = diffWords('a b c d', 'b c d a');
    const equal = parts.filter((p) => p.op === 'equal').map((p) => p.text).join('');
    expect(equal.replace(/\s/g, '')).toBe('bcd');
  });
});

describe('diffStats', () => {
  it('counts words, not whitespace', () => {
    expect(diffStats(diffWords('one two three', 'one 2 3 three four'))).toEqual({ inserted: 3, deleted: 1 });
  });
});

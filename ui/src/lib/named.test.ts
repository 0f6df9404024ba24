import { describe, expect, it } from 'vitest';
import { defaultThreshold, parseNamedItems, parseSpanLabels } from './named';

describe('parseNamedItems', () => {
  it('reads one item per line with an optional description', () => {
    expect(parseNamedItems('correctness: the right procedure\n\ntone\n')).toEqual([
      { name: 'correctness', description: 'the right procedure' },
      { name: 'tone', description: '' },
    ]);
  });

  it('reads a comma-separated line of names and drops repeats', () => {
    expect(parseNamedItems('wrong, rude , wrong')).toEqual([
      { name: 'wrong', description: '' },
      { name: 'rude', description: '' },
    ]);
    expect(parseNamedItems('   ')).toEqual([]);
  });
});

describe('parseSpanLabels', () => {
  it('gives error labels, then good ones', () => {
    expect(parseSpanLabels('wrong: a wrong step\nrude', 'clear: a clear step, wrong')).toEqual([
      { name: 'wrong', description: 'a wrong step', polarity: 'error' },
      { name: 'rude', description: '', polarity: 'error' },
      { name: 'clear', description: 'a clear step, wrong', polarity: 'good' },
    ]);
    expect(parseSpanLabels('', 'clear, wrong')).toEqual([
      { name: 'clear', description: '', polarity: 'good' },
      { name: 'wrong', description: '', polarity: 'good' },
    ]);
    // A name under both is kept twice: the server refuses it, naming the field.
    expect(parseSpanLabels('a', 'a')).toEqual([
      { name: 'a', description: '', polarity: 'error' },
      { name: 'a', description: '', polarity: 'good' },
    ]);
  });
});

describe('defaultThreshold', () => {
  it('is two thirds up the scale', () => {
    expect(defaultThreshold(1, 7)).toBe(5);
    expect(defaultThreshold(1, 5)).toBe(4);
    expect(defaultThreshold(0, 10)).toBe(7);
  });
});

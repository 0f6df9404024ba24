import { describe, expect, it } from 'vitest';
import { usableLanguage } from './locale-guard';

describe('usableLanguage', () => {
  it('keeps a valid language tag', () => {
    expect(usableLanguage('fr-FR')).toBe('fr-FR');
  });
  it('replaces the POSIX locale names Intl refuses', () => {
    expect(() => new Intl.NumberFormat('C')).toThrow(RangeError);
    expect(usableLanguage('C')).toBe('en-US');
    expect(usableLanguage(undefined)).toBe('en-US');
  });
});

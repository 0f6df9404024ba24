// WebKitGTK reports the POSIX locale "C" as `navigator.language` when LANG is unset (a
// desktop session without a locale, or Xvfb), and `Intl` throws a RangeError on it — which
// uPlot's module does at load time, taking the whole app down. Imported first by main.ts, so
// it runs before any other module: it substitutes a valid tag for an invalid one.
export function usableLanguage(language: string | undefined): string {
  try {
    if (language) {
      new Intl.NumberFormat(language);
      return language;
    }
  } catch {
    // an invalid tag such as "C" or "C.UTF-8"
  }
  return 'en-US';
}

const nav = globalThis.navigator as Navigator | undefined;
if (nav && usableLanguage(nav.language) !== nav.language) {
  Object.defineProperty(nav, 'language', { value: 'en-US', configurable: true });
  Object.defineProperty(nav, 'languages', { value: ['en-US'], configurable: true });
}

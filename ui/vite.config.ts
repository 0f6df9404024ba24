// Vite (build and dev server) and Vitest share this file; `root` is ui/ so that index.html
// and the output folder live beside the sources.
import { fileURLToPath } from 'node:url';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vitest/config';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

// `npm run dev` forwards /api to a running `hone serve` (default port below, or HONE_API_URL).
const apiTarget = process.env.HONE_API_URL ?? 'http://127.0.0.1:8741';

export default defineConfig({
  root: here('.'),
  // Relative asset URLs: the desktop shell loads the files from disk, the server from any path.
  base: './',
  plugins: [svelte()],
  resolve: {
    alias: { $lib: here('./src/lib') },
    // Svelte's browser build in tests as well, so runes behave as in the app (the build
    // already resolves for the browser; setting conditions there would replace its defaults).
    ...(process.env.VITEST ? { conditions: ['browser'] } : {}),
  },
  build: {
    outDir: here('./dist'),
    emptyOutDir: true,
    // The CSP forbids inline scripts; keep every asset a file.
    assetsInlineLimit: 0,
    target: 'es2022',
    // One bundle of ~520 kB (190 kB gzipped) with the Markdown renderer, its sanitizer and the
    // highlighter: the app loads from this machine (hone serve, the desktop), not a network.
    chunkSizeWarningLimit: 700,
  },
  server: {
    proxy: { '/api': { target: apiTarget, changeOrigin: false } },
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'jsdom',
  },
});

import { afterEach, describe, expect, it } from 'vitest';
import * as api from './api/api';
import type { UiSettings } from './api/types/UiSettings';
import { settings } from './settings.svelte';

function fakeTransport(stored: UiSettings, saved: UiSettings[], fail = false): Parameters<typeof api.setTransport>[0] {
  return {
    name: 'tauri',
    call: async <T>() => null as T,
    subscribe: () => () => {},
    loadSettings: async () => stored,
    saveSettings: async (s) => {
      if (fail) throw { code: 'io', message: 'the settings store: disk full', field: null };
      saved.push(s);
    },
  };
}

describe('the settings of the app', () => {
  afterEach(() => api.setTransport(null));

  it('load through the transport, apply the theme and give the effective keys', async () => {
    api.setTransport(fakeTransport({ theme: 'dark', shortcuts: { 'comparison.a': 'a' }, workspace: '/w' }, []));
    await settings.load();
    expect(document.documentElement.dataset.theme).toBe('dark');
    expect(settings.theme).toBe('dark');
    expect(settings.workspace).toBe('/w');
    expect(settings.keymap['comparison.a']).toEqual(['a']);
    expect(settings.keymap['comparison.b']).toEqual(['2']);
  });

  it('apply a change at once and write all of it back, the workspace as read', async () => {
    const saved: UiSettings[] = [];
    api.setTransport(fakeTransport({ theme: 'system', shortcuts: {}, workspace: '/w' }, saved));
    await settings.load();
    settings.theme = 'light';
    expect(document.documentElement.dataset.theme).toBe('light');
    settings.shortcuts = { undo: 'z' };
    expect(settings.keymap.undo).toEqual(['z']);
    await settings.saved();
    expect(saved.at(-1)).toEqual({ theme: 'light', shortcuts: { undo: 'z' }, workspace: '/w' });
    expect(saved).toHaveLength(2);
  });

  it('say so when the settings cannot be kept, and keep them for the window', async () => {
    api.setTransport(fakeTransport({ theme: 'system', shortcuts: {}, workspace: null }, [], true));
    settings.theme = 'dark';
    await settings.saved();
    expect(settings.saveError).toContain('disk full');
    expect(document.documentElement.dataset.theme).toBe('dark');
  });

  it('keep the annotator, project and model folder per browser, as before', () => {
    settings.annotator = 'ann ';
    settings.projectId = 3;
    expect(localStorage.getItem('hone.annotator')).toBe('ann');
    expect(localStorage.getItem('hone.projectId')).toBe('3');
    expect(localStorage.getItem('hone.settings')).toBeNull(); // the app's settings went to the transport
  });
});

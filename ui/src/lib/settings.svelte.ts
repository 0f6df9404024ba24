// What the UI remembers between visits. Two kinds:
// - per browser (localStorage, as before): who is labeling, the project in use, the model
//   folder last chosen, and how answers are viewed (raw or rendered, scrolling together);
// - the app's settings (UiSettings: theme, keyboard shortcuts, the desktop's workspace), kept
//   through the transport: by the desktop shell in its settings store, in a browser in
//   localStorage under one key. Nothing here is workspace data.
import { loadSettings, saveSettings } from './api/api';
import { describeError } from './api/errors';
import { defaultSettings, type Theme } from './api/settings';
import type { ProjectId } from './api/types/ProjectId';
import type { UiSettings } from './api/types/UiSettings';
import { keymapOf, type Keymap, type Shortcuts } from './labeling/shortcuts';
import { applyTheme } from './theme';

const KEYS = {
  annotator: 'hone.annotator',
  projectId: 'hone.projectId',
  modelDir: 'hone.modelDir',
  rawText: 'hone.rawText',
  syncScroll: 'hone.syncScroll',
} as const;

function read(key: string): string | null {
  try {
    return globalThis.localStorage?.getItem(key) ?? null;
  } catch {
    return null; // storage disabled: the settings last for this page only
  }
}

function write(key: string, value: string | null) {
  try {
    if (value === null || value === '') globalThis.localStorage?.removeItem(key);
    else globalThis.localStorage?.setItem(key, value);
  } catch {
    // as above
  }
}

class Settings {
  #annotator = $state(read(KEYS.annotator) ?? '');
  #projectId = $state<ProjectId | null>(Number(read(KEYS.projectId)) || null);
  #modelDir = $state(read(KEYS.modelDir) ?? '');
  #rawText = $state(read(KEYS.rawText) === '1');
  #syncScroll = $state(read(KEYS.syncScroll) === '1');

  #theme = $state<Theme>('system');
  #shortcuts = $state<Shortcuts>({});
  #workspace = $state<string | null>(null);
  /** Set once a change was made: a late answer of `load` must not undo it. */
  #changed = false;
  /** Saves run one after the other, so the last change is the one kept. */
  #saving: Promise<void> = Promise.resolve();

  /** The labeling keys in effect: the defaults, overridden by `shortcuts`. */
  keymap: Keymap = $derived(keymapOf(this.#shortcuts));
  /** Why the settings could not be read or kept ('' when they were). */
  loadError = $state('');
  saveError = $state('');

  get annotator() {
    return this.#annotator;
  }
  set annotator(name: string) {
    this.#annotator = name;
    write(KEYS.annotator, name.trim());
  }

  get projectId() {
    return this.#projectId;
  }
  set projectId(id: ProjectId | null) {
    this.#projectId = id;
    write(KEYS.projectId, id === null ? null : String(id));
  }

  /** The base model folder used for candidates and fine-tunes. */
  get modelDir() {
    return this.#modelDir;
  }
  set modelDir(dir: string) {
    this.#modelDir = dir;
    write(KEYS.modelDir, dir.trim());
  }

  /** Answers shown as the model wrote them (raw text) instead of rendered Markdown. */
  get rawText() {
    return this.#rawText;
  }
  set rawText(on: boolean) {
    this.#rawText = on;
    write(KEYS.rawText, on ? '1' : null);
  }

  /** Side-by-side answers scroll together. */
  get syncScroll() {
    return this.#syncScroll;
  }
  set syncScroll(on: boolean) {
    this.#syncScroll = on;
    write(KEYS.syncScroll, on ? '1' : null);
  }

  /** `system`, `light` or `dark`; applied to the page at once. */
  get theme(): Theme {
    return this.#theme;
  }
  set theme(theme: Theme) {
    this.#theme = theme;
    applyTheme(theme);
    this.#persist();
  }

  /** Action → key, the rebound actions only (see labeling/shortcuts.ts). */
  get shortcuts(): Shortcuts {
    return this.#shortcuts;
  }
  set shortcuts(shortcuts: Shortcuts) {
    this.#shortcuts = { ...shortcuts };
    this.#persist();
  }

  /** The desktop's workspace folder (null in a browser); kept as read when saving. */
  get workspace(): string | null {
    return this.#workspace;
  }

  /** Reads the settings (at startup, before the app is shown) and applies the theme. Never throws. */
  async load(): Promise<void> {
    let loaded: UiSettings = defaultSettings();
    try {
      loaded = await loadSettings();
      this.loadError = '';
    } catch (e) {
      this.loadError = `The settings could not be read: ${describeError(e)}`;
    }
    if (!this.#changed) {
      this.#theme = loaded.theme as Theme;
      this.#shortcuts = { ...loaded.shortcuts };
      this.#workspace = loaded.workspace;
    }
    applyTheme(this.#theme);
  }

  snapshot(): UiSettings {
    return { theme: this.#theme, shortcuts: $state.snapshot(this.#shortcuts) as Shortcuts, workspace: this.#workspace };
  }

  #persist() {
    this.#changed = true;
    const next = this.snapshot();
    this.#saving = this.#saving.then(() =>
      saveSettings(next).then(
        () => {
          this.saveError = '';
        },
        (e: unknown) => {
          this.saveError = `The settings apply to this window but could not be kept: ${describeError(e)}`;
        },
      ),
    );
  }

  /** Resolves when every change so far was written (tests, the e2e). */
  saved(): Promise<void> {
    return this.#saving;
  }
}

export const settings = new Settings();

// What the UI remembers between visits, per browser (localStorage): who is labeling, the
// project in use and the model folder last chosen. Nothing here is workspace data.

const KEYS = { annotator: 'hone.annotator', projectId: 'hone.projectId', modelDir: 'hone.modelDir' } as const;

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
  #projectId = $state<number | null>(Number(read(KEYS.projectId)) || null);
  #modelDir = $state(read(KEYS.modelDir) ?? '');

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
  set projectId(id: number | null) {
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
}

export const settings = new Settings();

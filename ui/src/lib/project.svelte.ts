// The project in use, shared by every screen: its details (scale, criteria, labels,
// guidelines) loaded once and refreshed after a change.
import { projectDetails } from './api/api';
import { describeError } from './api/errors';
import type { ProjectDetails } from './api/types/ProjectDetails';
import { settings } from './settings.svelte';

class CurrentProject {
  details = $state<ProjectDetails | null>(null);
  error = $state('');
  loading = $state(false);
  #loadedFor: number | null = null;

  get id(): number | null {
    return settings.projectId;
  }

  /** Makes `id` the project in use and loads it. */
  async select(id: number | null): Promise<void> {
    settings.projectId = id;
    await this.refresh();
  }

  /** Loads the details when the project changed, or always with `force`. */
  async refresh(force = true): Promise<void> {
    const id = settings.projectId;
    if (id === null) {
      this.details = null;
      this.#loadedFor = null;
      return;
    }
    if (!force && this.#loadedFor === id && this.details) return;
    this.loading = true;
    try {
      this.details = await projectDetails(id);
      this.#loadedFor = id;
      this.error = '';
    } catch (e) {
      // A project removed from the workspace (or another workspace): forget it.
      if ((e as { code?: string }).code === 'not_found') settings.projectId = null;
      this.details = null;
      this.error = describeError(e);
    } finally {
      this.loading = false;
    }
  }
}

export const currentProject = new CurrentProject();

// The state of one job as a screen shows it: progress from `progress` events (and a
// fine-tune's steps and loss), the outcome, and the error in words. Fine-tune specifics
// (curves, stages) are handled by the screen through `onEvent`. A job started with a `tray`
// label is listed in the job tray on every screen.
import { describeError } from './api/errors';
import { jobTray } from './tray.svelte';
import type { JobHandle } from './api/api';
import type { JobEvent } from './api/types/JobEvent';

export type JobStatus = 'idle' | 'starting' | 'running' | 'succeeded' | 'failed';

export class JobRun<T> {
  status = $state<JobStatus>('idle');
  done = $state(0);
  total = $state(0);
  message = $state('');
  error = $state('');
  errorCode = $state('');
  result = $state<T | null>(null);
  id = $state<number | null>(null);
  /** The training loss after each step (fine-tunes), for the tray's sparkline. */
  losses = $state<number[]>([]);
  finishedAt = $state<number | null>(null);

  get running(): boolean {
    return this.status === 'starting' || this.status === 'running';
  }

  /** Fraction done, or null when the total is not known yet. */
  get fraction(): number | null {
    return this.total > 0 ? Math.min(1, this.done / this.total) : null;
  }

  /** Starts the job with `start` (which subscribes with the listener it is given). */
  async run(
    start: (onEvent: (e: JobEvent) => void) => Promise<JobHandle<T>>,
    onEvent?: (e: JobEvent) => void,
    tray?: { label: string; href: string },
  ): Promise<T | null> {
    this.status = 'starting';
    this.done = 0;
    this.total = 0;
    this.message = '';
    this.error = '';
    this.errorCode = '';
    this.result = null;
    this.losses = [];
    this.finishedAt = null;
    if (tray) jobTray.add(this as JobRun<unknown>, tray.label, tray.href);
    try {
      const handle = await start((e) => {
        if (e.event === 'progress') {
          this.done = Number(e.done);
          this.total = Number(e.total);
          this.message = e.message;
        } else if (e.event === 'fine_tune' && e.data.event === 'progress') {
          const p = e.data.progress;
          this.done = Number(p.step);
          this.total = Number(p.total_steps);
          this.message = `${e.data.method} step ${p.step} of ${p.total_steps}, loss ${Number(p.loss).toFixed(3)}`;
          this.losses = [...this.losses.slice(-199), Number(p.loss)];
        }
        onEvent?.(e);
      });
      this.id = handle.id;
      this.status = 'running';
      const result = await handle.done;
      this.result = result;
      this.status = 'succeeded';
      if (this.total > 0) this.done = this.total;
      return result;
    } catch (e) {
      this.status = 'failed';
      this.error = describeError(e);
      this.errorCode = (e as { code?: string }).code ?? '';
      return null;
    } finally {
      this.finishedAt = Date.now();
    }
  }
}

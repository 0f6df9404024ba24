// The job tray: every job a screen starts (candidates, fine-tunes, evaluations, downloads)
// is listed here while it runs and for a while after, so that leaving the screen loses
// nothing: progress, time left, the loss curve, cancel, and the way back to its screen.
import type { JobRun } from './jobs.svelte';

export interface TrayEntry {
  key: number;
  /** What it is, in words ("Fine-tune of support", "Candidates for 12 prompts"). */
  label: string;
  /** The screen that shows it in full. */
  href: string;
  run: JobRun<unknown>;
  startedAt: number;
}

/** Seconds left at the rate so far, or null before there is a rate. */
export function etaSeconds(done: number, total: number, elapsedMs: number): number | null {
  if (done <= 0 || total <= 0 || done >= total || elapsedMs <= 0) return null;
  return ((elapsedMs / done) * (total - done)) / 1000;
}

/** "12 s", "3 min", "1 h 5 min". */
export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** A sparkline's points ("x,y x,y …") for `values` in a width × height box, newest at the right. */
export function sparkline(values: readonly number[], width: number, height: number): string {
  const finite = values.filter(Number.isFinite);
  if (finite.length < 2) return '';
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  const span = hi - lo || 1;
  return finite
    .map((v, i) => `${((i / (finite.length - 1)) * width).toFixed(1)},${(height - ((v - lo) / span) * height).toFixed(1)}`)
    .join(' ');
}

/** How long a finished job stays in the tray. */
const KEEP_MS = 120_000;

class JobTray {
  entries = $state<TrayEntry[]>([]);
  private next = 1;

  add(run: JobRun<unknown>, label: string, href: string): TrayEntry {
    const entry: TrayEntry = { key: this.next++, label, href, run, startedAt: Date.now() };
    this.entries = [...this.entries.filter((e) => e.run !== run), entry];
    return entry;
  }

  /** Drops finished jobs older than the keep time, and one the user dismissed. */
  prune(now = Date.now(), dismissed?: number) {
    this.entries = this.entries.filter((e) => e.key !== dismissed && (e.run.running || e.run.finishedAt === null || now - e.run.finishedAt < KEEP_MS));
  }
}

export const jobTray = new JobTray();

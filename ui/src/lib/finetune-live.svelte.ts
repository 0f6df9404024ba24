// The fine-tune being watched: the job, its curves, stage and last progress. One for the
// app, so that leaving the Fine-tune screen and coming back shows the running job as it is
// (the job tray shows it meanwhile).
import type { FineTuneOutcome } from './api/types/FineTuneOutcome';
import type { JobEvent } from './api/types/JobEvent';
import type { Plan } from './api/types/Plan';
import type { Progress } from './api/types/Progress';
import { addEvent, type Curves } from './curves';
import { JobRun } from './jobs.svelte';

export type Outcome = FineTuneOutcome | [FineTuneOutcome, FineTuneOutcome];

class LiveFineTune {
  run = new JobRun<Outcome>();
  curves: Curves = new Map();
  /** Bumped when `curves` change (the map itself is not reactive). */
  curveVersion = $state(0);
  stage = $state<{ index: number; method: string; steps: number } | null>(null);
  last = $state<Progress | null>(null);
  /** A preference stage's reference pass, until its first step. */
  reference = $state<{ method: string; scored: number; total: number } | null>(null);
  /** Training is over and the new version is being measured on the held-out data. */
  evaluating = $state(false);
  /** The plan the running job announced. */
  plan = $state<Plan | null>(null);

  reset(curves: Curves = new Map()) {
    this.curves = curves;
    this.curveVersion += 1;
    this.stage = null;
    this.last = null;
    this.reference = null;
    this.evaluating = false;
    this.plan = null;
  }

  onEvent(e: JobEvent) {
    if (e.event !== 'fine_tune') return;
    const f = e.data;
    if (f.event === 'planned') this.plan = f.plan;
    else if (f.event === 'evaluating') this.evaluating = true;
    else if (f.event === 'stage_started') this.stage = { index: Number(f.index), method: String(f.method), steps: Number(f.steps) };
    else if (f.event === 'reference_pass') {
      // The stage's steps start after it: the last step shown was the stage before's.
      this.reference = { method: String(f.method), scored: Number(f.scored), total: Number(f.total) };
      this.last = null;
    } else if (f.event === 'progress') {
      this.reference = null;
      addEvent(this.curves, f);
      this.curveVersion += 1;
      this.last = f.progress;
      const stage = this.stage;
      if (!stage || stage.method !== f.method) this.stage = { index: stage ? stage.index + 1 : 0, method: String(f.method), steps: Number(f.progress.total_steps) };
    }
  }
}

export const liveFineTune = new LiveFineTune();

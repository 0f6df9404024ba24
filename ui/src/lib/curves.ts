// Training curves, grouped by stage (sft, dpo, …) then by metric name, from live fine-tune
// events or from a stored job's metric points ("sft/loss", "dpo/rewards/accuracies").
import type { FineTuneEvent } from './api/types/FineTuneEvent';
import type { MetricPoint } from './api/types/MetricPoint';

/** stage → metric → step → value; Maps keep the order in which things first appeared. */
export type Curves = Map<string, Map<string, Map<number, number>>>;

export function addPoint(curves: Curves, stage: string, metric: string, step: number, value: number): void {
  if (!Number.isFinite(value)) return;
  let stageCurves = curves.get(stage);
  if (!stageCurves) curves.set(stage, (stageCurves = new Map()));
  let points = stageCurves.get(metric);
  if (!points) stageCurves.set(metric, (points = new Map()));
  // A replayed event (reconnect, late subscribe) overwrites the same step instead of duplicating it.
  points.set(step, value);
}

/** Adds what a fine-tune progress event carries: the loss and every named metric. */
export function addEvent(curves: Curves, event: FineTuneEvent): boolean {
  if (event.event !== 'progress') return false;
  const stage = String(event.method);
  const p = event.progress;
  const step = Number(p.step);
  addPoint(curves, stage, 'loss', step, p.loss);
  for (const [name, value] of metricEntries(p.metrics)) {
    if (name !== 'loss') addPoint(curves, stage, name, step, value);
  }
  return true;
}

/** Metrics arrive as [name, value] pairs (a Rust Vec of tuples); accept an object too. */
export function metricEntries(metrics: unknown): [string, number][] {
  if (Array.isArray(metrics)) {
    return metrics.filter((m): m is [string, number] => Array.isArray(m) && typeof m[0] === 'string' && typeof m[1] === 'number');
  }
  if (metrics && typeof metrics === 'object') {
    return Object.entries(metrics as Record<string, unknown>).filter((e): e is [string, number] => typeof e[1] === 'number');
  }
  return [];
}

/** Stored points: the name's first segment is the stage ("dpo/rewards/margins" → dpo, rewards/margins). */
export function curvesFromPoints(points: readonly MetricPoint[]): Curves {
  const curves: Curves = new Map();
  for (const p of points) {
    const slash = p.name.indexOf('/');
    const [stage, metric] = slash > 0 ? [p.name.slice(0, slash), p.name.slice(slash + 1)] : ['training', p.name];
    addPoint(curves, stage, metric, Number(p.step), p.value);
  }
  return curves;
}

/** uPlot's aligned form: the union of steps, then one value column per series (null = gap). */
export function align(series: readonly Map<number, number>[]): [number[], ...(number | null)[][]] {
  const steps = new Set<number>();
  for (const s of series) for (const x of s.keys()) steps.add(x);
  const xs = [...steps].sort((a, b) => a - b);
  return [xs, ...series.map((s) => xs.map((x) => s.get(x) ?? null))];
}

/** The last value of a curve, for the figures beside the chart. */
export function lastValue(points: Map<number, number> | undefined): number | null {
  if (!points || points.size === 0) return null;
  return points.get(Math.max(...points.keys())) ?? null;
}

/**
 * An axis label that stays readable for any magnitude: learning rates (2e-4) would otherwise
 * all print as "0".
 */
export function formatTick(value: number): string {
  if (value === 0 || !Number.isFinite(value)) return String(value);
  const magnitude = Math.abs(value);
  if (magnitude < 1e-2 || magnitude >= 1e5) return value.toExponential(1).replace('e+', 'e');
  return String(Number(value.toPrecision(3)));
}

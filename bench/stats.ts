/** Latency statistics and a closed-loop load generator shared by the benchmarks. */

export interface Stats {
  count: number;
  perSecond: number;
  p50: number;
  p99: number;
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

export function summarize(latenciesMs: number[], elapsedMs: number): Stats {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  return { count: sorted.length, perSecond: (sorted.length / elapsedMs) * 1000, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99) };
}

/** Runs `op` from `concurrency` loops for `durationMs` (or `total` operations); returns latencies. */
export async function closedLoop(op: () => Promise<void>, options: { concurrency: number; durationMs?: number; total?: number }): Promise<Stats> {
  const latencies: number[] = [];
  const started = performance.now();
  let issued = 0;
  const more = () => (options.total !== undefined ? issued < options.total : performance.now() - started < options.durationMs!);
  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      while (more()) {
        issued++;
        const t = performance.now();
        await op();
        latencies.push(performance.now() - t);
      }
    }),
  );
  return summarize(latencies, performance.now() - started);
}

export const fmt = (s: Stats) => `${s.perSecond.toFixed(1)}/s  p50 ${s.p50.toFixed(1)} ms  p99 ${s.p99.toFixed(1)} ms  (n=${s.count})`;

/** The median; of an even count, the mean of the two middle values (two rounds give their mean, not the better one). */
export function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

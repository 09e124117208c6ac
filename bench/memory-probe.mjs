/**
 * Preloaded into a process (`NODE_OPTIONS=--import ./bench/memory-probe.mjs`, with
 * BENCH_MEMORY_PROBE=<dir>): on SIGUSR2 it collects garbage (twice, a moment apart, so finalizers
 * and weak references settle) and writes `<dir>/<pid>.json` with its RSS and V8 heap, in bytes.
 * With BENCH_HEAP_SNAPSHOT=<dir> it first writes a heap snapshot there too (`<pid>-<n>.heapsnapshot`,
 * n counting the probes: compare two in Chrome DevTools' Memory tab to see what the difference holds).
 * Plain JavaScript: it loads before the TypeScript loader does.
 */
import { writeFileSync } from 'node:fs';
import { setFlagsFromString, writeHeapSnapshot } from 'node:v8';
import { runInNewContext } from 'node:vm';

const dir = process.env.BENCH_MEMORY_PROBE;
const snapshots = process.env.BENCH_HEAP_SNAPSHOT;
let probes = 0;
if (dir) {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc');
  process.on('SIGUSR2', () => {
    gc();
    setTimeout(() => {
      gc();
      if (snapshots) writeHeapSnapshot(`${snapshots}/${process.pid}-${++probes}.heapsnapshot`);
      const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
      writeFileSync(`${dir}/${process.pid}.json`, JSON.stringify({ rss, heapUsed, heapTotal, external, arrayBuffers, at: Date.now() }));
    }, 500);
  });
}

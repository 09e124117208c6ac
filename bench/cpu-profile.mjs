/**
 * Preloaded into a process (`NODE_OPTIONS=--import ./bench/cpu-profile.mjs`; NODE_OPTIONS refuses
 * `--cpu-prof`): profiles it from start to exit and writes `<BENCH_CPU_PROF>/<pid>.cpuprofile`.
 * Plain JavaScript: it loads before the TypeScript loader does.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

const dir = process.env.BENCH_CPU_PROF;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.start');
  process.on('exit', () => {
    session.post('Profiler.stop', (err, result) => {
      if (!err) writeFileSync(`${dir}/${process.pid}.cpuprofile`, JSON.stringify(result.profile));
    });
  });
}

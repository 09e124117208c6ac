/**
 * `npm run worker -- --queues cpu,gpu`: a worker process alone, for scaling workers out
 * independently of gateways. It needs DATABASE_URL and TEMPORAL_ADDRESS.
 */
import { runWorkerProcess } from './runtime.js';

const flag = process.argv.indexOf('--queues');
await runWorkerProcess(flag > 0 ? process.argv[flag + 1] : undefined);

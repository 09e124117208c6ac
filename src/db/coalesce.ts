/**
 * Loaders that gather a process's concurrent calls into one statement: a call that arrives while
 * the loader's statement is in flight waits for it and goes, with every other call that arrived
 * meanwhile, in the next one. One statement at a time per loader, in arrival order; under load the
 * batches grow instead of the queue for pooled connections (50 agents of one orchestration, each
 * with its own statements, held the pool's every connection and 30 more queries waiting).
 */
import DataLoader from 'dataloader';

export function coalescing<K, V>(load: DataLoader.BatchLoadFn<K, V>): DataLoader<K, V> {
  let inFlight: Promise<unknown> = Promise.resolve();
  return new DataLoader<K, V>(
    (keys) => {
      // Batches split by maxBatchSize run one after another too, so a later one never overtakes.
      const run = inFlight.then(() => load(keys));
      inFlight = run.catch(() => {});
      return run;
    },
    { cache: false, maxBatchSize: 500, batchScheduleFn: (dispatch) => void inFlight.then(() => setImmediate(dispatch)) },
  );
}

/** One loader per database client (a process may hold several: tests and benchmarks do). */
export function perClient<D extends object, L>(create: (db: D) => L): (db: D) => L {
  const loaders = new WeakMap<D, L>();
  return (db) => {
    let loader = loaders.get(db);
    if (!loader) loaders.set(db, (loader = create(db)));
    return loader;
  };
}

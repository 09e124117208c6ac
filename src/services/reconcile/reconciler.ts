/**
 * Keeps the database converging with Temporal. A workflow can end without writing its resource's
 * final state: an operator terminates or resets it, it times out, a namespace fails over, its
 * worker dies for good; and a gateway can die between storing a row and starting its workflow.
 * Every RECONCILE_INTERVAL_SECONDS each cpu worker process reads the unfinished rows of every kind
 * (resource-kinds.ts) and describes their workflows:
 *  - closed (terminated, timed out, cancelled, failed, or completed with the row still unfinished):
 *    the row ends the way a normal end would (final state with the reason, final event, webhook
 *    event, agent slot freed);
 *  - unknown to Temporal for longer than RECONCILE_GRACE_SECONDS (a lost start): started again
 *    under the same workflow id (a duplicate start is refused) when the row can still run from
 *    the start and was asked for less than an hour ago, else ended failed as `workflow_lost`;
 *  - still running: left alone.
 * A loop in the worker process, not a Temporal schedule: a 15 s schedule would add thousands of
 * workflow runs a day to the history and the Web UI operators use, and a pass writes nothing
 * unless a row needs it. Several workers may reconcile at once: every ending is conditional on the
 * row being unfinished and a second start of the same workflow id is refused.
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { workflowState } from '../../temporal/workflow-state.js';
import { endingError, resourceKinds, type Deps, type Ending, type ResourceKind } from './resource-kinds.js';

/** Rows of one kind a pass looks at; the next pass continues after the last one (so every row is seen in turn). */
const BATCH = 500;
/** Workflows described at once. */
const CONCURRENCY = 16;
/** A row whose workflow was lost longer ago than this is failed rather than started: its caller has moved on. */
const RESTART_WINDOW_MS = 60 * 60 * 1000;

export interface Reconciler {
  /** One pass over every kind; returns how many rows it ended or started. */
  pass(): Promise<number>;
  close(): Promise<void>;
}

/** Runs `fn` on every item with at most `limit` at once. */
async function eachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

/** Starts the loop (first pass at once); `close` stops it and waits for a pass in progress. */
export function startReconciler(deps: Deps): Reconciler {
  const cursors = new Map<string, string>();
  const graceMs = deps.config.RECONCILE_GRACE_SECONDS * 1000;

  /** Checks one row; true when it ended or started it. */
  async function reconcileRow<Row extends { id: string }>(kind: ResourceKind<Row>, row: Row): Promise<boolean> {
    const workflowId = kind.workflowId(row);
    const state = await workflowState(deps.temporal, workflowId);
    if (state.state === 'running') return false;
    const log = { kind: kind.name, id: row.id, workflowId };
    if (state.state === 'closed') {
      const ending: Ending = { cause: state.end, reason: state.reason };
      await kind.end(deps, row, ending);
      // A terminate reason is the operator's words; a failure message may hold internals, so it stays in the log.
      deps.logger.info({ ...log, workflowEnd: state.end, code: endingError(ending).code, reason: state.reason }, 'reconciled: the workflow ended without its row; ended the row');
      return true;
    }
    if (kind.leaveWhenMissing?.(row)) return false;
    const requestedAt = kind.requestedAt(row);
    const age = requestedAt ? Date.now() - requestedAt.getTime() : null;
    if (age !== null && age < graceMs) return false; // its start may still be on its way
    if (kind.restart?.allowed(row) && (age === null || age < RESTART_WINDOW_MS)) {
      try {
        await kind.restart.start(deps, row);
        deps.logger.info(log, 'reconciled: the workflow was never started (a lost start); started it');
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err; // started by someone else meanwhile
      }
      return true;
    }
    await kind.end(deps, row, { cause: 'lost', reason: null });
    deps.logger.info({ ...log, code: 'workflow_lost' }, 'reconciled: Temporal has no workflow for the row; ended the row');
    return true;
  }

  async function reconcileKind<Row extends { id: string }>(kind: ResourceKind<Row>): Promise<number> {
    const rows = await kind.unfinished(deps, cursors.get(kind.name) ?? '', BATCH);
    cursors.set(kind.name, rows.length === BATCH ? rows.at(-1)!.id : '');
    let changed = 0;
    let failures = 0;
    let lastError: unknown = null;
    await eachLimited(rows, CONCURRENCY, async (row) => {
      try {
        if (await reconcileRow(kind, row)) changed++;
      } catch (err) {
        failures++;
        lastError = err;
      }
    });
    // Temporal or the database unreachable: nothing is decided from a failed call; the next pass tries again.
    if (failures) deps.logger.warn({ kind: kind.name, failures, err: lastError }, 'reconciler could not check some rows; the next pass retries them');
    return changed;
  }

  async function pass(): Promise<number> {
    let changed = 0;
    for (const kind of resourceKinds) changed += await reconcileKind(kind);
    return changed;
  }

  let timer: NodeJS.Timeout | null = null;
  let closed = false;
  let running: Promise<unknown> = Promise.resolve();
  const loop = () => {
    running = pass()
      .catch((err) => deps.logger.warn({ err }, 'reconciler pass failed; the next one retries'))
      .finally(() => {
        if (!closed) timer = setTimeout(loop, deps.config.RECONCILE_INTERVAL_SECONDS * 1000).unref();
      });
  };
  loop();

  return {
    pass,
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      await running; // nothing may touch the database after its owner closes it
    },
  };
}

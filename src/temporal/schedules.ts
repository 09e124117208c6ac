/**
 * Temporal Schedules the worker keeps. `generation-retention` (id `<TASK_QUEUE_PREFIX>-generation-retention`)
 * starts generationRetentionWorkflow every hour on the cpu queue; it deletes generations older
 * than GENERATION_RETENTION_DAYS. Every cpu worker ensures it at start: the first creates it,
 * the others (and restarts) update it to the current settings, so there is exactly one.
 */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { generationRetentionWorkflow } from '../../workflows/generation.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';

/** The retention schedule's id for this deployment. */
export function retentionScheduleId(config: Pick<Config, 'TASK_QUEUE_PREFIX'>): string {
  return `${config.TASK_QUEUE_PREFIX}-generation-retention`;
}

/** Creates the generation-retention schedule, or brings an existing one up to date. */
export async function ensureRetentionSchedule(client: Client, config: Config, logger: Logger): Promise<void> {
  const scheduleId = retentionScheduleId(config);
  const spec = { intervals: [{ every: '1 hour' as const }] };
  const action = {
    type: 'startWorkflow' as const,
    workflowType: generationRetentionWorkflow,
    workflowId: `${scheduleId}-run`,
    taskQueue: config.taskQueues.cpu,
  };
  try {
    await client.schedule.create({ scheduleId, spec, action, policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 day' } });
    logger.info({ scheduleId }, 'generation retention schedule created');
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec, action }));
  }
}

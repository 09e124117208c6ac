/**
 * Where an orchestration's time goes, from Temporal's own histories (event times written by the
 * server) and the task rows: per agent, when its step was started, when its first workflow task
 * ran, when its agent activity was scheduled, started and completed, when it completed, and when
 * the orchestration saw it; printed as percentiles over the agents, in ms since the POST.
 */
import type { Client } from '@temporalio/client';
import proto, { type temporal } from '@temporalio/proto';

const EventType = proto.temporal.api.enums.v1.EventType;
type EventType = proto.temporal.api.enums.v1.EventType;
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

const ms = (e: HistoryEvent | undefined) => (e?.eventTime ? Number(e.eventTime.seconds) * 1000 + Math.floor((e.eventTime.nanos ?? 0) / 1e6) : NaN);

async function history(client: Client, workflowId: string): Promise<HistoryEvent[]> {
  return (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
}

const pct = (values: number[], q: number) => {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
};

/**
 * Prints the phases of the orchestration `id` (POSTed at `postedAt`, epoch ms) and returns them per
 * agent. `modelArrivals`: epoch ms at which the model server received each call.
 */
export async function traceOrchestration(client: Client, id: string, postedAt: number, modelArrivals: number[] = []): Promise<void> {
  const parent = await history(client, id);
  const started = new Map<string, number>();
  const seen = new Map<string, number>();
  for (const e of parent) {
    const init = e.startChildWorkflowExecutionInitiatedEventAttributes;
    if (init?.workflowId) {
      started.set(init.workflowId, ms(e));
    }
    const done = e.childWorkflowExecutionCompletedEventAttributes;
    if (done?.workflowExecution?.workflowId) seen.set(done.workflowExecution.workflowId, ms(e));
  }
  const phases: Record<string, number[]> = {};
  const durations: Record<string, number[]> = {};
  const add = (name: string, v: number) => (phases[name] ??= []).push(v - postedAt);
  const parentWft = parent.filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED).length;
  add('orchestration workflow started', ms(parent[0]));
  const ids = [...started.keys()];
  const children = await Promise.all(ids.map((w) => history(client, w)));
  let childWft = 0;
  children.forEach((events, i) => {
    const first = (t: EventType) => events.find((e) => e.eventType === t);
    const last = (t: EventType) => events.findLast((e) => e.eventType === t);
    childWft += events.filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED).length;
    add('1 child start initiated (parent)', started.get(ids[i])!);
    add('2 child workflow started', ms(events[0]));
    add('3 child first workflow task started', ms(first(EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED)));
    add('4 child first workflow task completed', ms(first(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)));
    add('5 agent activity scheduled', ms(first(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)));
    add('6 agent activity started', ms(first(EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)));
    add('7 agent activity completed', ms(first(EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)));
    add('8 child workflow completed', ms(last(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED)));
    add('9 parent saw child completed', seen.get(ids[i])!);
    const scheduled = ms(first(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED));
    const actStarted = ms(first(EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED));
    (durations['agent activity schedule-to-start'] ??= []).push(actStarted - scheduled);
    (durations['agent activity start-to-close'] ??= []).push(ms(first(EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)) - actStarted);
    (durations['child start → first workflow task done'] ??= []).push(ms(first(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)) - ms(events[0]));
    (durations['activity done → child completed'] ??= []).push(ms(last(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED)) - ms(first(EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)));
  });
  // Agents run inside the orchestration's workflow: each agent's activity in its history.
  const scheduledAt = new Map<number, number>();
  const startedAt = new Map<number, number>();
  for (const e of ids.length ? [] : parent) {
    const sched = e.activityTaskScheduledEventAttributes;
    if (sched && sched.activityType?.name !== 'finishOrchestration') {
      scheduledAt.set(Number(e.eventId), ms(e));
      add('5 agent activity scheduled', ms(e));
    }
    const st = e.activityTaskStartedEventAttributes;
    if (st && scheduledAt.has(Number(st.scheduledEventId))) {
      startedAt.set(Number(st.scheduledEventId), ms(e));
      add('6 agent activity started', ms(e));
      (durations['agent activity schedule-to-start'] ??= []).push(ms(e) - scheduledAt.get(Number(st.scheduledEventId))!);
    }
    const done = e.activityTaskCompletedEventAttributes;
    if (done && startedAt.has(Number(done.scheduledEventId))) {
      add('7 agent activity completed', ms(e));
      (durations['agent activity start-to-close'] ??= []).push(ms(e) - startedAt.get(Number(done.scheduledEventId))!);
    }
  }
  // The orchestration's own workflow tasks (the first few) and its local activities (slot attempts, the final write).
  let wft = 0;
  for (const e of parent) {
    if (e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED && ++wft <= 3) add(`workflow task ${wft} started`, ms(e));
    if (e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED && wft <= 3) add(`workflow task ${wft} completed`, ms(e));
    if (e.eventType === EventType.EVENT_TYPE_MARKER_RECORDED) add('local activity or patch marker', ms(e));
  }
  for (const a of modelArrivals) add('model call received', a);
  add('orchestration workflow completed', ms(parent.at(-1)));
  const waves = parent.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runAgentWave').length;
  const shape = ids.length ? `${ids.length} agents (child workflows)` : `${scheduledAt.size} agent activities (${waves} of them waves of several agents)`;
  console.log(`trace of ${id}: ${shape}, parent workflow tasks ${parentWft}, markers ${phases['local activity or patch marker']?.length ?? 0}, child workflow tasks ${childWft}; ms since the POST`);
  console.log('phase                                     min     p50     p99     max');
  const f = (x: number) => x.toFixed(0).padStart(7);
  for (const [name, v] of Object.entries(phases)) console.log(`${name.padEnd(38)} ${f(pct(v, 0))} ${f(pct(v, 0.5))} ${f(pct(v, 0.99))} ${f(pct(v, 1))}`);
  console.log('per agent, duration (ms)');
  for (const [name, v] of Object.entries(durations)) console.log(`${name.padEnd(38)} ${f(pct(v, 0))} ${f(pct(v, 0.5))} ${f(pct(v, 0.99))} ${f(pct(v, 1))}`);
}

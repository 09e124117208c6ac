// The baseline of benchmark (b): a workflow with one no-op activity.
import { executeChild, proxyActivities } from '@temporalio/workflow';

const { noop } = proxyActivities<{ noop(): Promise<void> }>({ startToCloseTimeout: '10 seconds' });

export async function bareWorkflow(): Promise<void> {
  await noop();
}

// The engine's floor for benchmark #5: a parent that runs `children` bare workflows in parallel as
// child workflows, the shape of an orchestration without any of the gateway's work.
export async function bareParentWorkflow(children: number): Promise<void> {
  await Promise.all(Array.from({ length: children }, () => executeChild(bareWorkflow)));
}

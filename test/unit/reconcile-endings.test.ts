import { describe, expect, it } from 'vitest';
import { idTime, newId } from '../../src/ids.js';
import { endingError } from '../../src/services/reconcile/resource-kinds.js';

describe('what a resource says when its workflow ended without it', () => {
  it("shows the operator's terminate reason, bounded", () => {
    expect(endingError({ cause: 'terminated', reason: 'bad deploy' })).toEqual({
      code: 'workflow_terminated',
      message: 'The workflow was terminated in the task engine (reason: bad deploy).',
    });
    expect(endingError({ cause: 'terminated', reason: null }).message).toBe('The workflow was terminated in the task engine.');
    expect(endingError({ cause: 'terminated', reason: 'x'.repeat(5000) }).message.length).toBeLessThan(600);
  });

  it("never shows a failed workflow's failure message (it may hold internals)", () => {
    const error = endingError({ cause: 'failed', reason: 'TypeError: cannot read properties of undefined (reading "id") at /srv/app/src/x.ts:12' });
    expect(error.code).toBe('workflow_failed');
    expect(error.message).not.toContain('TypeError');
  });

  it('has one code per way a workflow can end without its row', () => {
    const codes = (['terminated', 'timed_out', 'cancelled', 'failed', 'completed', 'lost'] as const).map((cause) => endingError({ cause, reason: null }).code);
    expect(codes).toEqual(['workflow_terminated', 'task_timeout', 'workflow_cancelled', 'workflow_failed', 'workflow_failed', 'workflow_lost']);
  });
});

describe('idTime', () => {
  it('reads when an id was made from its UUIDv7', () => {
    const before = Date.now();
    const at = idTime(newId('indexRun'))!.getTime();
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(Date.now());
    expect(idTime('idx_not-a-uuid')).toBeNull();
  });
});

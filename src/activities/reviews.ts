/** Activities of the review workflow: thin over the review runner. */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { AppError } from '../errors.js';
import type { ServiceDeps } from '../services/deps.js';
import { failReview, runReview } from '../services/reviews/run-review.js';

/** `fileDelayMs` slows each file (REVIEW_FILE_DELAY_MS: demos, tests of streaming). */
export function createReviewActivities(deps: Pick<ServiceDeps, 'db' | 'bus'>, options: { fileDelayMs: number }) {
  return {
    async runReview(reviewId: string): Promise<string> {
      const ctx = Context.current();
      try {
        return await runReview(deps, reviewId, { fileDelayMs: options.fileDelayMs, sleep: (ms) => ctx.sleep(ms), onFile: (i) => ctx.heartbeat(i) });
      } catch (err) {
        // A review its input cannot make (an AppError) fails at once, with a message safe to show;
        // anything else (the database, the worker) is retried.
        if (err instanceof AppError) throw ApplicationFailure.create({ type: (err as AppError).code, message: err.message, nonRetryable: true });
        throw err;
      }
    },
    async failReview(input: { reviewId: string; message: string }): Promise<void> {
      await failReview(deps, input.reviewId, input.message);
    },
  };
}

export type ReviewActivities = ReturnType<typeof createReviewActivities>;

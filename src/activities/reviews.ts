/** Activities of the review workflow: thin over the review runner. */
import { Context } from '@temporalio/activity';
import type { ServiceDeps } from '../services/deps.js';
import { failReview, runReview } from '../services/reviews/run-review.js';

/** `fileDelayMs` slows each file (REVIEW_FILE_DELAY_MS: demos, tests of streaming). */
export function createReviewActivities(deps: Pick<ServiceDeps, 'db' | 'bus'>, options: { fileDelayMs: number }) {
  return {
    async runReview(reviewId: string): Promise<string> {
      const ctx = Context.current();
      return runReview(deps, reviewId, { fileDelayMs: options.fileDelayMs, sleep: (ms) => ctx.sleep(ms), onFile: (i) => ctx.heartbeat(i) });
    },
    async failReview(input: { reviewId: string; message: string }): Promise<void> {
      await failReview(deps, input.reviewId, input.message);
    },
  };
}

export type ReviewActivities = ReturnType<typeof createReviewActivities>;

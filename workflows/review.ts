/**
 * A review (workflow id = review id): one activity reviews every file, heartbeating after each;
 * a retried attempt rewrites the same findings (deterministic ids), so nothing is duplicated.
 * When the attempts run out, the review ends as failed.
 */
import { ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type { ReviewActivities } from '../src/activities/reviews.js';

export interface ReviewWorkflowInput {
  reviewId: string;
}

export async function reviewWorkflow(input: ReviewWorkflowInput): Promise<string> {
  const { runReview } = proxyActivities<ReviewActivities>({
    startToCloseTimeout: '30 minutes',
    heartbeatTimeout: '1 minute',
    retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 3 },
  });
  const { failReview } = proxyActivities<ReviewActivities>({
    startToCloseTimeout: '1 minute',
    retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 10 },
  });
  try {
    return await runReview(input.reviewId);
  } catch (err) {
    const cause = err instanceof ApplicationFailure ? err : (err as { cause?: unknown }).cause;
    const safe = cause instanceof ApplicationFailure && cause.nonRetryable ? cause.message : 'The review could not be completed; submit it again.';
    await failReview({ reviewId: input.reviewId, message: safe });
    return 'failed';
  }
}

// Updates, deletions and revocations (the mutations behind PATCH and DELETE routes) with an idempotencyKey.
import { callerOf, type GraphQLContext } from '../src/context.js';
import type { Prisma } from '../src/generated/prisma/client.js';
import { changeOnce } from '../src/services/idempotency.js';
import type { BuilderTypes } from './builder.js';

/** A payload's `replayed`: whether a repeat with the same idempotencyKey answered it. */
export function replayedField<P extends { replayed?: boolean }>(t: PothosSchemaTypes.ObjectFieldBuilder<BuilderTypes, P>) {
  return t.boolean({ description: 'Whether this answered an earlier request with the same idempotencyKey (nothing ran again).', resolve: (p) => p.replayed ?? false });
}

/**
 * A mutation's change at most once per idempotencyKey of the caller: the other arguments are the
 * request the key stands for (other arguments with the same key are IDEMPOTENCY_CONFLICT), and
 * `keep` and `recall` are those of `changeOnce`: what a replay needs of the first payload (JSON, no
 * secret) and how it builds the payload again from that.
 */
export function changeOnceFor<P extends object, K extends Prisma.InputJsonValue>(
  ctx: GraphQLContext,
  operation: string,
  { idempotencyKey, ...request }: { idempotencyKey?: string | null },
  change: () => Promise<P>,
  keep: (payload: P) => K,
  recall: (kept: K) => P | Promise<P>,
): Promise<P & { replayed: boolean }> {
  return changeOnce(ctx.deps.db, { principalId: callerOf(ctx).userId, key: idempotencyKey, operation, request }, change, keep, recall);
}

/**
 * The account claims our access tokens carry, as the spec's JWT structure names them:
 * `email`, `email_verified`, `codex_tier` and `codex_subscription_id` (the latter only when the
 * account has a subscription). `azp` is set by whoever signs (the first-party client or the OAuth client).
 */
import type { User } from '../../generated/prisma/client.js';
import type { Db } from '../../db/client.js';

export interface AccountClaims {
  email?: string;
  email_verified: boolean;
  codex_tier: string;
  codex_subscription_id?: string;
}

/**
 * The claims of an account. An address counts as verified only when an identity provider
 * vouched for it (external accounts keep their e-mail only when the provider's token said
 * `email_verified: true`); this gateway sends no confirmation mails, so its own sign-ups are not.
 */
export async function accountClaims(db: Db, user: Pick<User, 'id' | 'tier' | 'email' | 'externalSubject' | 'subscriptionRef'>): Promise<AccountClaims> {
  const subscription = await db.paidPlan.findUnique({ where: { userId: user.id }, select: { id: true, status: true } });
  const subscriptionId = subscription?.status === 'active' ? subscription.id : (user.subscriptionRef ?? undefined);
  return {
    ...(user.email ? { email: user.email } : {}),
    email_verified: !!user.email && !!user.externalSubject,
    codex_tier: user.tier,
    ...(subscriptionId ? { codex_subscription_id: subscriptionId } : {}),
  };
}

/**
 * Where money moves. A payment processor plugs in by implementing this interface: it may refuse a
 * paid plan change (no valid payment), and collects charges. The default provider keeps its own
 * ledger (billing_charges) and collects nothing, so it refuses paid plan changes unless the
 * operator opened self-service plans (SELF_SERVICE_PLANS), or the operator makes the change
 * (`npm run admin -- plan set`). Card data never reaches us: a payment method is stored as brand,
 * last4 and expiry only.
 */
import type { Db } from '../../db/client.js';
import { PaymentRequiredError } from '../../errors.js';
import { newId } from '../../ids.js';

/** A change that costs money: a paid tier started, raised, or moved to another billing cycle. */
export interface PaidPlanChange {
  userId: string;
  fromTier: string;
  toTier: string;
  billingCycle: 'monthly' | 'yearly';
}

export interface BillingProvider {
  readonly name: string;
  /** Resolves when the change is paid for (or may be charged); throws PaymentRequiredError to refuse it, before anything changes. */
  authorizePlanChange(change: PaidPlanChange): Promise<void>;
  /** Records (or collects) a charge, or a credit when `amountCents` is negative. */
  charge(paidPlanId: string, amountCents: number, kind: string, description: string): Promise<void>;
}

export class LedgerBillingProvider implements BillingProvider {
  readonly name = 'ledger';
  /** `selfService`: accounts may start and raise paid plans themselves (nothing is collected). */
  constructor(
    private readonly db: Pick<Db, 'billingCharge'>,
    private readonly options: { selfService: boolean },
  ) {}

  async authorizePlanChange(change: PaidPlanChange): Promise<void> {
    if (this.options.selfService) return;
    throw new PaymentRequiredError(
      `This server takes no payments, so the ${change.toTier} plan (${change.billingCycle}) cannot be bought here; nothing was changed. Ask the operator to change your plan (npm run admin -- plan set), or to allow self-service plans (SELF_SERVICE_PLANS=true).`,
      { current_tier: change.fromTier, requested_tier: change.toTier },
    );
  }

  async charge(paidPlanId: string, amountCents: number, kind: string, description: string): Promise<void> {
    await this.db.billingCharge.create({ data: { id: newId('charge'), paidPlanId, amountCents, kind, description } });
  }
}

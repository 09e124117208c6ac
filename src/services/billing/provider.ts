/**
 * Where money moves. The default provider keeps its own ledger (billing_charges) and charges
 * nothing outside; a payment processor plugs in by implementing this interface. Card data never
 * reaches us: a payment method is stored as brand, last4 and expiry only.
 */
import type { Db } from '../../db/client.js';
import { newId } from '../../ids.js';

export interface BillingProvider {
  readonly name: string;
  /** Records (or collects) a charge, or a credit when `amountCents` is negative. */
  charge(subscriptionId: string, amountCents: number, kind: string, description: string): Promise<void>;
}

export class LedgerBillingProvider implements BillingProvider {
  readonly name = 'ledger';
  constructor(private readonly db: Pick<Db, 'billingCharge'>) {}

  async charge(subscriptionId: string, amountCents: number, kind: string, description: string): Promise<void> {
    await this.db.billingCharge.create({ data: { id: newId('charge'), subscriptionId, amountCents, kind, description } });
  }
}

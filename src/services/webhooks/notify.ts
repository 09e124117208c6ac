/**
 * Notifications to an account: a stored record always, and an e-mail through SMTP (nodemailer)
 * when SMTP_URL is set and the account has an address. A failed e-mail is logged, never fatal.
 */
import nodemailer from 'nodemailer';
import { newId } from '../../ids.js';
import type { Principal, ServiceDeps } from '../deps.js';
import { paginate, type PageArgs } from '../pagination.js';

/** Stores a notification for `userId` and e-mails it when SMTP is configured. */
export async function notifyUser(
  deps: Pick<ServiceDeps, 'db' | 'config' | 'logger'>,
  userId: string,
  note: { type: string; subject: string; message: string; data?: Record<string, unknown> },
): Promise<void> {
  const id = newId('notification');
  await deps.db.notification.create({ data: { id, userId, type: note.type, message: note.message, data: (note.data ?? {}) as object } });
  if (!deps.config.SMTP_URL) return;
  const user = await deps.db.user.findUnique({ where: { id: userId }, select: { email: true } });
  if (!user?.email) return;
  try {
    const transport = nodemailer.createTransport(deps.config.SMTP_URL);
    await transport.sendMail({ from: deps.config.SMTP_FROM, to: user.email, subject: note.subject, text: note.message });
    transport.close();
    await deps.db.notification.update({ where: { id }, data: { emailedAt: new Date() } });
  } catch (err) {
    deps.logger.warn({ err: { message: (err as Error).message }, notificationId: id }, 'could not e-mail a notification');
  }
}

export const NOTIFICATION_PAGE_MAX = 100;

/** The caller's notifications, newest first. */
export function listNotifications(deps: Pick<ServiceDeps, 'db'>, principal: Principal, args: PageArgs) {
  return paginate(args, NOTIFICATION_PAGE_MAX, 'notification', (cursor, order, take) =>
    deps.db.notification.findMany({ where: { userId: principal.userId, ...cursor }, orderBy: { id: order }, take }),
  );
}

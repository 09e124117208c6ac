/**
 * Notifications to an account: a stored record always, and an e-mail through SMTP (nodemailer)
 * when SMTP_URL is set and the account has an address. A failed e-mail is logged, never fatal.
 */
import nodemailer from 'nodemailer';
import { newId } from '../../ids.js';
import type { Principal, ServiceDeps } from '../deps.js';
import { paginate, type PageArgs } from '../pagination.js';
import { requirePersonalCredential } from '../teams.js';

/** Stores a notification for `userId` and e-mails it when SMTP is configured. */
export async function notifyUser(
  deps: Pick<ServiceDeps, 'db' | 'config' | 'logger'>,
  userId: string,
  note: { type: string; subject: string; message: string; data?: Record<string, unknown> },
): Promise<void> {
  const id = newId('notification');
  const data: object = note.data ?? {}; // a Json column takes it as a plain object
  await deps.db.notification.create({ data: { id, userId, type: note.type, message: note.message, data } });
  if (!deps.config.SMTP_URL) return;
  const user = await deps.db.user.findUnique({ where: { id: userId }, select: { email: true } });
  if (!user?.email) return;
  if (await sendMail(deps, user.email, note.subject, note.message, { notificationId: id })) {
    await deps.db.notification.update({ where: { id }, data: { emailedAt: new Date() } });
  }
}

/** Sends one e-mail through SMTP_URL; false when SMTP is not set or the send failed (logged). */
export async function sendMail(
  deps: Pick<ServiceDeps, 'config' | 'logger'>,
  to: string,
  subject: string,
  text: string,
  logContext: Record<string, unknown>,
): Promise<boolean> {
  if (!deps.config.SMTP_URL) return false;
  try {
    const transport = nodemailer.createTransport(deps.config.SMTP_URL);
    await transport.sendMail({ from: deps.config.SMTP_FROM, to, subject, text });
    transport.close();
    return true;
  } catch (err) {
    deps.logger.warn({ err: { message: (err as Error).message }, ...logContext }, 'could not send an e-mail');
    return false;
  }
}

export const NOTIFICATION_PAGE_MAX = 100;

/** The caller's notifications, newest first. */
export function listNotifications(deps: Pick<ServiceDeps, 'db'>, principal: Principal, args: PageArgs) {
  requirePersonalCredential(principal, 'notifications');
  return paginate(args, NOTIFICATION_PAGE_MAX, 'notification', (cursor, order, take) =>
    deps.db.notification.findMany({ where: { userId: principal.userId, ...cursor }, orderBy: { id: order }, take }),
  );
}

/**
 * What a thrown error (or one field of a validation error) says, as a catalogue key and its
 * arguments, so that the message can be written again in the caller's language. The English
 * text stays the error's own `message`; an error without a descriptor falls back to its code's
 * catalogue message.
 */
import type { z } from 'zod';
import type en from './messages/en.json';

export type MessageKey = keyof typeof en;
export type MessageParams = Record<string, string | number>;

/** A catalogue message, or a zod issue that zod's own locales word. */
export type MessageDescriptor = { key: MessageKey; params?: MessageParams } | { issue: z.core.$ZodIssue };

const descriptors = new WeakMap<object, MessageDescriptor>();

/** Marks an error or a field error with the catalogue message that says what its English text says. */
export function withMessage<T extends object>(target: T, key: MessageKey, params?: MessageParams): T {
  descriptors.set(target, { key, params });
  return target;
}

/** A field error from a zod issue; other languages get zod's own wording of the issue. */
export function issueFieldError(issue: z.core.$ZodIssue, field: string, message: string = issue.message): { field: string; message: string } {
  const fieldError = { field, message };
  descriptors.set(fieldError, { issue });
  return fieldError;
}

/** The descriptor an error or field error was marked with, if any. */
export const descriptorOf = (target: object): MessageDescriptor | undefined => descriptors.get(target);

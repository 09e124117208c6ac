/**
 * Tags and metadata that a caller attaches to a task or an orchestration at submission. Tags are
 * for filtering (and are copied to the workflow's search attributes), metadata is returned as
 * given. Both are checked here, once, for GraphQL and REST alike.
 */
import { z } from 'zod';

export const MAX_TAGS = 10;
export const TAG_PATTERN = /^[A-Za-z0-9_.:-]{1,40}$/;
export const MAX_METADATA_KEYS = 32;
export const MAX_METADATA_BYTES = 4096;
const METADATA_KEY = /^[A-Za-z0-9_.-]{1,40}$/;
const MAX_METADATA_STRING = 500;

const TAG_RULE = '1 to 40 characters of letters, digits, _ . : -';

/** One tag: 1 to 40 characters of letters, digits and _ . : - (no spaces, so it is one search term). */
export const tagSchema = z.string().regex(TAG_PATTERN, `must be ${TAG_RULE}`);

/** Up to 10 distinct tags; a repeated tag is kept once. */
export const tagsSchema = z
  .array(tagSchema)
  .max(MAX_TAGS, `must have at most ${MAX_TAGS} tags`)
  .transform((tags) => [...new Set(tags)]);

const metadataValue = z.union([z.string().max(MAX_METADATA_STRING, `must be at most ${MAX_METADATA_STRING} characters`), z.number(), z.boolean(), z.null()], {
  message: 'must be a string, number, boolean or null (metadata is flat: no nested objects or arrays)',
});

/**
 * A flat JSON object: at most 32 keys (1 to 40 of letters, digits, _ . -), values strings (at
 * most 500 characters), numbers, booleans or null, at most 4 KB as JSON.
 */
export const metadataSchema = z
  .record(z.string().regex(METADATA_KEY, 'keys must be 1 to 40 characters of letters, digits, _ . -'), metadataValue, {
    message: 'must be a JSON object',
  })
  .superRefine((value, ctx) => {
    if (Object.keys(value).length > MAX_METADATA_KEYS) ctx.addIssue({ code: 'custom', message: `must have at most ${MAX_METADATA_KEYS} keys` });
    if (Buffer.byteLength(JSON.stringify(value)) > MAX_METADATA_BYTES) ctx.addIssue({ code: 'custom', message: `must be at most ${MAX_METADATA_BYTES} bytes as JSON` });
  });

/** The two submission fields, for extending a task's or an orchestration's input schema. */
export const runLabelFields = {
  tags: tagsSchema.nullish().transform((tags) => tags ?? []),
  metadata: metadataSchema.nullish().transform((metadata) => metadata ?? {}),
};

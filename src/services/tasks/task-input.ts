/** The rules an agent task request must satisfy, shared by REST and GraphQL (both call the service). */
import { z } from 'zod';
import { agentCatalog, agentTypes } from '../../agents/catalog.js';
import { boundedInt } from '../../bounded-int.js';
import { ValidationError, type FieldError } from '../../errors.js';
import { issueFieldError } from '../../i18n/descriptor.js';
import { runLabelFields } from './run-labels.js';
import { MAX_TASK_PATHS, taskPathSchema } from './task-sources.js';

const MAX_FILES = 2000;
/** The most tokens a task may ask the model for. */
export const TASK_MAX_TOKENS = 200_000;

/** Built once per time limit: building a zod schema, and compiling it on its first parse, costs more than parsing with it. */
const schemas = new Map<number, ReturnType<typeof buildTaskInputSchema>>();

export function taskInputSchema(maxTimeoutSeconds: number) {
  let schema = schemas.get(maxTimeoutSeconds);
  if (!schema) schemas.set(maxTimeoutSeconds, (schema = buildTaskInputSchema(maxTimeoutSeconds)));
  return schema;
}

function buildTaskInputSchema(maxTimeoutSeconds: number) {
  return z.object({
    task: z.string().trim().min(1, 'must not be empty').max(20_000, 'must be at most 20,000 characters'),
    agentType: z.string().refine((v) => v in agentCatalog, {
      message: `must be one of: ${agentTypes.join(', ')}`,
    }),
    context: z
      .object({
        files: z
          .array(
            z.object({
              path: z.string().min(1, 'must not be empty').max(1024, 'must be at most 1024 characters'),
              content: z.string(),
            }),
          )
          .max(MAX_FILES, `must have at most ${MAX_FILES} files`)
          .default([]),
        repository: z.string().max(2048, 'must be at most 2,048 characters').nullish(), // checked by checkTaskSource
        branch: z
          .string()
          .regex(/^(?!-)[A-Za-z0-9._/-]{1,255}$/, 'must be a branch name (letters, digits, . _ / -, not starting with -)')
          .refine((b) => !b.includes('..'), 'must not contain ".."')
          .nullish(),
        paths: z.array(taskPathSchema).max(MAX_TASK_PATHS, `must have at most ${MAX_TASK_PATHS} entries`).nullish(),
      })
      .default({ files: [] }),
    maxTokens: boundedInt(1, TASK_MAX_TOKENS).nullish(),
    temperature: z.number().min(0, 'must be at least 0').max(2, 'must be at most 2').nullish(),
    teamId: z
      .string()
      .regex(/^team_[0-9a-f-]{36}$/, 'must be a team id (team_…)')
      .nullish(),
    projectId: z.string().min(1).max(100).nullish(),
    timeoutSeconds: boundedInt(1, maxTimeoutSeconds).nullish(),
    ...runLabelFields,
  });
}

export type TaskInput = z.infer<ReturnType<typeof taskInputSchema>>;

/** Converts zod issues into the envelope's field list (dotted camelCase paths). */
export function fieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.map((issue) => issueFieldError(issue, issue.path.map(String).join('.') || '(body)'));
}

/** Validates a request, throwing a 422 that names every invalid field. */
export function parseTaskInput(input: unknown, maxTimeoutSeconds: number): TaskInput {
  const parsed = taskInputSchema(maxTimeoutSeconds).safeParse(input);
  if (!parsed.success) throw new ValidationError(fieldErrors(parsed.error));
  return parsed.data;
}

/**
 * Scaffolds (POST /v1/generations/scaffold): a ZIP archive of a small project from a built-in
 * template (src/agents/scaffold-templates.ts), named and parameterized by the caller. The
 * templates need no model; when a model is configured and a `description` is given, the model
 * writes src/feature.ts with the described behaviour (through the gpu-queue activity), which the
 * package's index re-exports. The archive is built with JSZip.
 */
import JSZip from 'jszip';
import { z } from 'zod';
import { parseModelAnswer } from '../agents/code-generation.js';
import { renderTemplate, SCAFFOLD_TEMPLATES, type ScaffoldFile } from '../agents/scaffold-templates.js';
import { boundedInt } from '../bounded-int.js';
import { NotFoundError, ServiceUnavailableError, ValidationError } from '../errors.js';
import { idKind, newId } from '../ids.js';
import type { Principal, ServiceDeps } from './deps.js';
import { withIdempotentResult } from './idempotency.js';
import { fieldErrors } from './tasks/task-input.js';
import { scaffoldFeatureWorkflow } from '../../workflows/generation.js';
import { start } from '../temporal/start-for-row.js';
import { canSee } from './teams.js';

/** The highest TCP port an http_service template may listen on by default. */
export const MAX_PORT = 65_535;

// Words that cannot be function names: a part named so would not compile.
const RESERVED = new Set(
  'break case catch class const continue debugger default delete do else enum export extends false finally for function if import in instanceof new null return super switch this throw true try typeof var void while with yield let static implements interface package private protected public await async'.split(' '),
);

const partName = z
  .string()
  .regex(/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/, 'must be lower-case letters and digits, words joined by single dashes (e.g. "user-accounts")')
  .max(40, 'must be at most 40 characters')
  .refine((v) => !RESERVED.has(v), 'must not be a JavaScript reserved word');

const inputSchema = z
  .object({
    name: z
      .string()
      .regex(/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/, 'must be an npm package name: lower-case letters and digits, words joined by single dashes (e.g. "billing-api")')
      .max(60, 'must be at most 60 characters'),
    template: z.enum(SCAFFOLD_TEMPLATES, { message: `must be one of: ${SCAFFOLD_TEMPLATES.join(', ')}` }),
    language: z
      .string()
      .nullish()
      .refine((v) => v == null || v.toLowerCase() === 'typescript', 'must be typescript (the only language the built-in templates are written in)'),
    description: z.string().trim().max(5000, 'must be at most 5,000 characters').nullish(),
    projectId: z.string().nullish(),
    options: z
      .object({
        port: boundedInt(1, MAX_PORT).nullish(),
        resources: z.array(partName).max(20, 'must name at most 20 resources').nullish(),
        commands: z.array(partName).max(20, 'must name at most 20 commands').nullish(),
        modules: z.array(partName).max(20, 'must name at most 20 modules').nullish(),
      })
      .strict()
      .nullish(),
  })
  .strict()
  .superRefine((v, ctx) => {
    const o = v.options ?? {};
    const allowed = { http_service: ['port', 'resources'], cli: ['commands'], library: ['modules'] }[v.template];
    for (const key of ['port', 'resources', 'commands', 'modules'] as const) {
      if (o[key] != null && !allowed.includes(key)) {
        ctx.addIssue({ code: 'custom', path: ['options', key], message: `does not apply to the ${v.template} template (it takes: ${allowed.join(', ')})` });
      }
    }
    for (const key of ['resources', 'commands', 'modules'] as const) {
      const list = o[key] ?? [];
      const dup = list.find((x, i) => list.indexOf(x) !== i);
      if (dup) ctx.addIssue({ code: 'custom', path: ['options', key], message: `names "${dup}" twice` });
      if (key === 'resources' && list.includes('health')) ctx.addIssue({ code: 'custom', path: ['options', key], message: 'must not include "health" (the service answers /health itself)' });
    }
  });

export type ScaffoldInput = z.input<typeof inputSchema>;

export interface Scaffold {
  filename: string;
  files: string[];
  archive: Buffer;
  /** Whether a model wrote src/feature.ts. */
  modelUsed: boolean;
}

/** Asks the model (gpu queue, via the generation workflow's activity) for the described module. */
async function modelFeature(deps: ServiceDeps, name: string, template: string, description: string): Promise<string> {
  const id = `${newId('generation')}-scaffold`;
  const handle = await start(deps, scaffoldFeatureWorkflow, {
    workflowId: id,
    // The request waits for it: bounded, even when no gpu worker polls.
    workflowExecutionTimeout: `${deps.config.MODEL_TIMEOUT_SECONDS + 60} seconds`,
    args: [{ gpuQueue: deps.config.taskQueues.gpu, timeoutSeconds: deps.config.MODEL_TIMEOUT_SECONDS, heartbeatTimeoutSeconds: deps.config.ACTIVITY_HEARTBEAT_TIMEOUT_SECONDS, name, template, description }],
  }).catch((err) => {
      deps.logger.error({ err }, 'could not start the scaffold feature workflow');
      throw new ServiceUnavailableError('The task engine is not reachable right now; retry shortly.');
    });
  const text: string = await handle.result().catch((err) => {
    deps.logger.warn({ err }, 'the model could not write the scaffold feature');
    throw new ServiceUnavailableError('The model provider could not write the described behaviour; retry shortly, or leave out description for the template alone.');
  });
  const parsed = parseModelAnswer(text, 'typescript');
  if (!parsed) throw new ServiceUnavailableError('The model answered without code for the described behaviour; retry, or rephrase description.');
  return parsed.code;
}

/** Renders the template (and, with a model and a description, the described module) into a ZIP. */
export async function createScaffold(deps: ServiceDeps, principal: Principal, raw: unknown): Promise<Scaffold> {
  const parsed = inputSchema.safeParse(raw);
  if (!parsed.success) throw new ValidationError(fieldErrors(parsed.error));
  const input = parsed.data;
  let description = input.description ?? '';
  if (input.projectId) {
    const project = idKind(input.projectId) === 'project' ? await deps.db.project.findUnique({ where: { id: input.projectId } }) : null;
    if (!project || !(await canSee(deps, principal, project))) throw new NotFoundError('project', input.projectId);
    if (!description) description = project.description;
  }
  const useModel = Boolean(deps.config.MODEL_BASE_URL && input.description);
  const feature = useModel ? await modelFeature(deps, input.name, input.template, input.description!) : null;
  const o = input.options ?? {};
  const files: ScaffoldFile[] = renderTemplate(input.template, {
    name: input.name,
    description,
    port: o.port ?? 3000,
    parts: o.resources ?? o.commands ?? o.modules ?? [],
    feature,
  });
  const zip = new JSZip();
  for (const f of files) zip.file(f.path, f.content, { date: new Date('2020-01-01T00:00:00Z') });
  const archive = await zip.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE', platform: 'UNIX' });
  return { filename: `${input.name}.zip`, files: files.map((f) => f.path), archive, modelUsed: feature !== null };
}

/**
 * A scaffold made once per Idempotency-Key: the archive (small, and with a model different each
 * time) is kept with the key, so a replay answers the same bytes without calling the model again.
 */
export async function scaffoldOnce(deps: ServiceDeps, principal: Principal, idempotencyKey: string | null | undefined, raw: unknown): Promise<Scaffold & { replayed: boolean }> {
  const { result, replayed } = await withIdempotentResult(deps.db, { principalId: principal.userId, key: idempotencyKey, operation: 'scaffoldProject', request: raw }, async () => {
    const s = await createScaffold(deps, principal, raw);
    return { filename: s.filename, files: s.files, modelUsed: s.modelUsed, archive: s.archive.toString('base64') };
  });
  return { ...result, archive: Buffer.from(result.archive, 'base64'), replayed };
}

/** The messages that ask the model for a scaffold's described module. */
export function scaffoldFeatureMessages(input: { name: string; template: string; description: string }) {
  return [
    {
      role: 'system' as const,
      content:
        'You write one TypeScript ES module for a new project. It compiles with tsc in strict mode (module NodeNext), imports only Node built-ins with the "node:" prefix (no other packages, no relative imports), and has named exports only. ' +
        'Answer with exactly one JSON object and nothing else: {"language": "typescript", "code": "<the module>", "explanation": "<one paragraph>", "confidence": <0 to 1>}.',
    },
    { role: 'user' as const, content: `Project "${input.name}" (a ${input.template.replace('_', ' ')}). Write the module src/feature.ts that does this: ${input.description}` },
  ];
}

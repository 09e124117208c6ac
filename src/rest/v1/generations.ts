/** /v1/generations: create, get, list (50 a page), retry, and scaffold (a ZIP). */
import { z } from 'zod';
import { SCAFFOLD_TEMPLATES } from '../../agents/scaffold-templates.js';
import { intForService } from '../../bounded-int.js';
import { GENERATION_PAGE_MAX } from '../../services/generations.js';
import { MAX_PORT } from '../../services/scaffold.js';
import { listQuery, listResponse, pageReply, pageVariables } from '../pagination.js';
import { defineRoute, idempotencyKey, lower, oneOf } from '../route.js';
import { FileHitJson, fileHitJson } from './projects.js';
import { graphql, type ResultOf } from '../graphql.js';

const GenerationFields = graphql(`
  fragment RestGeneration on Generation {
    id status prompt language projectId teamId code explanation confidence attempts promptTokens completionTokens createdAt completedAt expiresAt
    options { style verbosity safetyFilters }
    warnings { severity category ruleId message line suggestion }
    error { code message }
    contextFiles { path language score snippet startLine endLine }
  }
`);

const severities = ['critical', 'high', 'medium', 'low'] as const;
const categories = ['security', 'quality'] as const;

const WarningJson = z.object({
  severity: z.enum(severities),
  category: z.enum(categories),
  rule_id: z.string(),
  message: z.string(),
  line: z.number().int(),
  suggestion: z.string(),
});

const GenerationJson = z.object({
  id: z.string(),
  object: z.literal('generation'),
  status: z.enum(['processing', 'completed', 'failed']),
  prompt: z.string(),
  language: z.string().nullable().describe('null only while processing when neither the request nor the project named one'),
  project_id: z.string().nullable(),
  team_id: z.string().nullable(),
  options: z.object({ style: z.string().nullable(), verbosity: z.string().nullable(), safety_filters: z.boolean() }),
  code: z.string().nullable().describe('null until completed'),
  explanation: z.string().nullable(),
  confidence: z.number().min(0).max(1).nullable(),
  warnings: z.array(WarningJson).describe('Findings of the built-in security and code analyzers on code'),
  context_files: z.array(FileHitJson).describe("The project's files most relevant to the prompt (its semantic index), given to the model; empty without a project_id or an index"),
  error: z.object({ code: z.string(), message: z.string() }).nullable().describe('Set when status is failed'),
  tokens_used: z.object({ prompt: z.number().int(), completion: z.number().int(), total: z.number().int() }),
  attempts: z.number().int(),
  created_at: z.iso.datetime(),
  completed_at: z.iso.datetime().nullable(),
  expires_at: z.iso.datetime().describe('When the generation is deleted (90 days by default)'),
  url: z.string(),
});

/** The spec's JSON for a generation. */
export function generationJson(g: ResultOf<typeof GenerationFields>): z.input<typeof GenerationJson> {
  return {
    id: g.id,
    object: 'generation',
    status: lower(g.status),
    prompt: g.prompt,
    language: g.language,
    project_id: g.projectId,
    team_id: g.teamId,
    options: { style: g.options.style, verbosity: g.options.verbosity, safety_filters: g.options.safetyFilters },
    code: g.code,
    explanation: g.explanation,
    confidence: g.confidence,
    warnings: g.warnings.map((w) => ({ severity: oneOf(severities, w.severity), category: oneOf(categories, w.category), rule_id: w.ruleId, message: w.message, line: w.line, suggestion: w.suggestion })),
    context_files: g.contextFiles.map(fileHitJson),
    error: g.error,
    tokens_used: { prompt: g.promptTokens, completion: g.completionTokens, total: g.promptTokens + g.completionTokens },
    attempts: g.attempts,
    created_at: g.createdAt,
    completed_at: g.completedAt,
    expires_at: g.expiresAt,
    url: `/v1/generations/${g.id}`,
  };
}

/** 202 while the generation is still processing (poll GET or subscribe), 201 once it has ended. */
const createdOrAccepted = (g: { status: string }) => (g.status === 'PROCESSING' ? 202 : 201);

const IdParams = z.object({ generation_id: z.string() });

export const generationRoutes = [
  defineRoute({
    method: 'POST',
    path: '/v1/generations',
    operationId: 'createGeneration',
    summary: 'Generate code from a prompt: under 200 tokens answers completed (201), longer prompts processing (202; poll GET)',
    tag: 'Generations',
    successStatus: 201,
    idempotent: true,
    body: z
      .object({
        prompt: z.string().describe('What the code should do (required)'),
        language: z.string().optional().describe("Inferred from the project's first language when omitted"),
        project_id: z.string().optional(),
        team_id: z.string().optional(),
        options: z
          .object({
            style: z.string().optional(),
            verbosity: z.enum(['concise', 'normal', 'detailed']).optional(),
            safety_filters: z.boolean().optional().describe('Default true'),
          })
          .strict()
          .optional(),
      })
      .strict(),
    response: GenerationJson,
    errors: ['idempotency_conflict', 'model_not_configured', 'service_unavailable'],
    document: graphql(`
  mutation CreateGeneration($input: CreateGenerationInput!, $idempotencyKey: String) {
    createGeneration(input: $input, idempotencyKey: $idempotencyKey) { replayed generation { ...RestGeneration } }
  }
`, [GenerationFields]),
    variables: ({ body, headers }) => ({
      input: {
        prompt: body.prompt,
        language: body.language,
        projectId: body.project_id,
        teamId: body.team_id,
        options: body.options && { style: body.options.style, verbosity: body.options.verbosity, safetyFilters: body.options.safety_filters },
      },
      idempotencyKey: idempotencyKey(headers),
    }),
    reply: (data) => generationJson(data.createGeneration.generation),
    statusOf: (data) => createdOrAccepted(data.createGeneration.generation),
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/generations',
    operationId: 'listGenerations',
    summary: 'Your generations (or a team\'s), newest first, at most 50 a page',
    tag: 'Generations',
    successStatus: 200,
    query: listQuery(GENERATION_PAGE_MAX, 'generation').extend({ team_id: z.string().optional(), project_id: z.string().optional() }).strict(),
    response: listResponse(GenerationJson),
    document: graphql(`
  query ListGenerations($teamId: ID, $projectId: ID, $first: Int, $after: String, $last: Int, $before: String) {
    generations(teamId: $teamId, projectId: $projectId, first: $first, after: $after, last: $last, before: $before) {
      edges { node { ...RestGeneration } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
`, [GenerationFields]),
    variables: ({ query }) => ({ ...pageVariables(query), teamId: query.team_id ?? null, projectId: query.project_id ?? null }),
    reply: (data, req) => pageReply(data.generations, generationJson, '/v1/generations', req.query),
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/generations/{generation_id}',
    operationId: 'getGeneration',
    summary: 'A generation: processing until the code, explanation, confidence and warnings are ready',
    tag: 'Generations',
    successStatus: 200,
    params: IdParams,
    response: GenerationJson,
    document: graphql(`
  query GetGeneration($id: ID!) {
    generation(id: $id) { ...RestGeneration }
  }
`, [GenerationFields]),
    variables: ({ params }) => ({ id: params.generation_id }),
    reply: (data) => generationJson(data.generation),
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/generations/{generation_id}/retry',
    operationId: 'retryGeneration',
    summary: 'Run a completed or failed generation again (same prompt and options)',
    tag: 'Generations',
    successStatus: 201,
    idempotent: true,
    params: IdParams,
    response: GenerationJson,
    errors: ['generation_not_retryable', 'model_not_configured', 'service_unavailable'],
    document: graphql(`
  mutation RetryGeneration($id: ID!, $idempotencyKey: String) {
    retryGeneration(id: $id, idempotencyKey: $idempotencyKey) { replayed generation { ...RestGeneration } }
  }
`, [GenerationFields]),
    variables: ({ params, headers }) => ({ id: params.generation_id, idempotencyKey: idempotencyKey(headers) }),
    reply: (data) => generationJson(data.retryGeneration.generation),
    statusOf: (data) => createdOrAccepted(data.retryGeneration.generation),
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/generations/scaffold',
    operationId: 'scaffoldProject',
    summary: 'A ZIP archive of a project from a built-in template (http_service, cli, library) that builds with tsc and tests itself with node:test',
    idempotent: true,
    tag: 'Generations',
    successStatus: 200,
    body: z
      .object({
        name: z.string().describe('npm package name, e.g. billing-api'),
        template: z.enum(SCAFFOLD_TEMPLATES),
        language: z.string().optional().describe('typescript (default; the only one the templates are written in)'),
        description: z.string().optional().describe('What it should do; with a model configured, the model writes src/feature.ts from it'),
        project_id: z.string().optional(),
        options: z
          .object({
            port: intForService(1, MAX_PORT).optional().describe('http_service: default port (3000)'),
            resources: z.array(z.string()).optional().describe('http_service: resources with list/create/get endpoints'),
            commands: z.array(z.string()).optional().describe('cli: subcommands'),
            modules: z.array(z.string()).optional().describe('library: modules, each with tests'),
          })
          .strict()
          .optional(),
      })
      .strict(),
    response: z.instanceof(Buffer).describe('application/zip'),
    errors: ['model_not_configured', 'service_unavailable'],
    document: graphql(`
  mutation ScaffoldProject($input: ScaffoldInput!, $idempotencyKey: String) {
    scaffoldProject(input: $input, idempotencyKey: $idempotencyKey) { replayed filename files modelUsed archiveBase64 }
  }
`),
    variables: ({ body, headers }) => ({
      idempotencyKey: idempotencyKey(headers),
      input: {
        name: body.name,
        template: body.template,
        language: body.language,
        description: body.description,
        projectId: body.project_id,
        options: body.options,
      },
    }),
    reply: (data) => Buffer.from(data.scaffoldProject.archiveBase64, 'base64'),
    binary: {
      contentType: 'application/zip',
      headers: (data) => ({
        'Content-Disposition': `attachment; filename="${data.scaffoldProject.filename}"`,
        'X-Scaffold-Files': String(data.scaffoldProject.files.length),
        'X-Scaffold-Model': data.scaffoldProject.modelUsed ? 'used' : 'none',
      }),
    },
  }),
];

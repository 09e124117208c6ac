// Code generations, scaffolds and chat: the operations an editor plugin needs besides reviews.
import { callerOf } from '../../src/context.js';
import type { GenerationOptions, GenerationWarning } from '../../src/agents/code-generation.js';
import type { Generation } from '../../src/generated/prisma/client.js';
import type { ChatEvent } from '../../src/services/chat.js';
import { openChat } from '../../src/services/chat.js';
import { createGeneration, getGeneration, listGenerations, retryGeneration, watchGeneration } from '../../src/services/generations.js';
import { scaffoldOnce, type Scaffold } from '../../src/services/scaffold.js';
import type { FileHit } from '../../src/services/projects/search.js';
import { builder } from '../builder.js';
import { FileHitRef } from './project.js';
import { connectionOf } from '../connection.js';
import { mayReadObject } from '../../src/services/auth/read-resources.js';

const GenerationStatus = builder.enumType('GenerationStatus', {
  values: {
    PROCESSING: { value: 'processing', description: 'The model is writing; poll or subscribe to generationUpdated.' },
    COMPLETED: { value: 'completed' },
    FAILED: { value: 'failed', description: 'See error; retryGeneration runs it again.' },
  } as const,
});

const WarningRef = builder.objectRef<GenerationWarning>('GenerationWarning').implement({
  description: "A finding of the built-in analyzers (security and code review) on the generated code.",
  fields: (t) => ({
    severity: t.exposeString('severity', { description: 'critical, high, medium or low.' }),
    category: t.exposeString('category', { description: 'security or quality.' }),
    ruleId: t.exposeString('rule_id'),
    message: t.exposeString('message'),
    line: t.exposeInt('line', { description: '1-based line in code.' }),
    suggestion: t.exposeString('suggestion'),
  }),
});

const OptionsRef = builder.objectRef<GenerationOptions>('GenerationOptions').implement({
  fields: (t) => ({
    style: t.string({ nullable: true, resolve: (o) => o.style ?? null }),
    verbosity: t.string({ nullable: true, resolve: (o) => o.verbosity ?? null }),
    safetyFilters: t.boolean({ resolve: (o) => o.safety_filters !== false }),
  }),
});

const ErrorRef = builder.objectRef<{ code: string; message: string }>('GenerationError').implement({
  fields: (t) => ({ code: t.exposeString('code'), message: t.exposeString('message') }),
});

export const GenerationRef = builder.objectRef<Generation>('Generation');

builder.node(GenerationRef, {
  authScopes: (g, ctx) => mayReadObject(ctx.principal, 'generations', g.createdByKeyId),
  description: 'Code written by the model from a prompt, with the analyzers\' warnings. Kept 90 days (GENERATION_RETENTION_DAYS).',
  id: { resolve: (g) => g.id },
  loadOne: (id, ctx) => getGeneration(ctx.deps, callerOf(ctx), id),
  fields: (t) => ({
    prompt: t.exposeString('prompt'),
    language: t.exposeString('language', { nullable: true, description: 'Asked for, inferred from the project, or (when neither) the one the model chose.' }),
    projectId: t.exposeID('projectId', { nullable: true }),
    teamId: t.exposeID('teamId', { nullable: true }),
    options: t.field({ type: OptionsRef, resolve: (g) => g.options as GenerationOptions }),
    status: t.field({ type: GenerationStatus, resolve: (g) => g.status }),
    code: t.exposeString('code', { nullable: true }),
    explanation: t.exposeString('explanation', { nullable: true }),
    confidence: t.exposeFloat('confidence', { nullable: true, description: "0 to 1: the model's own figure, or computed from the answer's form and the warnings." }),
    warnings: t.field({ type: [WarningRef], resolve: (g) => g.warnings as unknown as GenerationWarning[] }),
    contextFiles: t.field({
      type: [FileHitRef],
      description: "The project's files most relevant to the prompt (its semantic index), given to the model.",
      resolve: (g) => g.contextFiles as unknown as FileHit[],
    }),
    error: t.field({ type: ErrorRef, nullable: true, resolve: (g) => (g.error as { code: string; message: string } | null) ?? null }),
    promptTokens: t.exposeInt('promptTokens', { description: 'Prompt tokens the provider counted (0 until completed).' }),
    completionTokens: t.exposeInt('completionTokens'),
    attempts: t.exposeInt('attempts'),
    createdAt: t.field({ type: 'DateTime', resolve: (g) => g.createdAt }),
    completedAt: t.field({ type: 'DateTime', nullable: true, resolve: (g) => g.completedAt }),
    expiresAt: t.field({
      type: 'DateTime',
      description: 'When the retention schedule deletes it (created + GENERATION_RETENTION_DAYS).',
      resolve: (g, _a, ctx) => new Date(g.createdAt.getTime() + ctx.deps.config.GENERATION_RETENTION_DAYS * 86_400_000),
    }),
  }),
});

builder.queryFields((t) => ({
  generation: t.field({
    type: GenerationRef,
    authScopes: { read: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_r, args, ctx) => getGeneration(ctx.deps, callerOf(ctx), String(args.id)),
  }),
  generations: t.connection({
    type: GenerationRef,
    description: 'Newest first, at most 50 a page.',
    authScopes: { read: true },
    args: { teamId: t.arg.id(), projectId: t.arg.id() },
    resolve: async (_r, args, ctx) =>
      connectionOf(
        await listGenerations(ctx.deps, callerOf(ctx), {
          ...args,
          teamId: args.teamId == null ? null : String(args.teamId),
          projectId: args.projectId == null ? null : String(args.projectId),
        }),
      ),
  }),
}));

const GenerationOptionsInput = builder.inputType('GenerationOptionsInput', {
  fields: (t) => ({
    style: t.string({ description: 'Free-form style guidance, e.g. "functional, 2-space indent".' }),
    verbosity: t.string({ description: 'concise, normal (default) or detailed.' }),
    safetyFilters: t.boolean({ description: 'Default true: the model refuses harmful code and the security analyzer checks the result.' }),
  }),
});

const CreateGenerationInput = builder.inputType('CreateGenerationInput', {
  fields: (t) => ({
    prompt: t.string({ required: true }),
    language: t.string({ description: "Inferred from the project's first language when omitted." }),
    projectId: t.id(),
    teamId: t.id(),
    options: t.field({ type: GenerationOptionsInput }),
  }),
});

const CreatePayload = builder.objectRef<{ generation: Generation; replayed: boolean }>('CreateGenerationPayload').implement({
  fields: (t) => ({ generation: t.field({ type: GenerationRef, resolve: (p) => p.generation }), replayed: t.exposeBoolean('replayed') }),
});
const RetryPayload = builder.objectRef<{ generation: Generation; replayed: boolean }>('RetryGenerationPayload').implement({
  fields: (t) => ({
    generation: t.field({ type: GenerationRef, resolve: (p) => p.generation }),
    replayed: t.exposeBoolean('replayed', { description: 'Whether this answered an earlier request with the same idempotencyKey (nothing ran again).' }),
  }),
});

const ScaffoldOptionsInput = builder.inputType('ScaffoldOptionsInput', {
  fields: (t) => ({
    port: t.int({ description: 'http_service: default port (3000).' }),
    resources: t.stringList({ description: 'http_service: resources with list/create/get endpoints (default items).' }),
    commands: t.stringList({ description: 'cli: subcommands (default hello).' }),
    modules: t.stringList({ description: 'library: modules, each with its tests (default core).' }),
  }),
});

const ScaffoldInput = builder.inputType('ScaffoldInput', {
  fields: (t) => ({
    name: t.string({ required: true, description: 'npm package name, e.g. billing-api.' }),
    template: t.string({ required: true, description: 'http_service, cli or library.' }),
    language: t.string({ description: 'typescript (the only one the templates are written in).' }),
    description: t.string({ description: 'What it should do; with a model configured, the model writes src/feature.ts from it.' }),
    projectId: t.id(),
    options: t.field({ type: ScaffoldOptionsInput }),
  }),
});

const ScaffoldRef = builder.objectRef<Scaffold & { replayed?: boolean }>('Scaffold').implement({
  fields: (t) => ({
    replayed: t.boolean({ description: 'Whether this answered an earlier request with the same idempotencyKey (the same archive, nothing generated again).', resolve: (s) => s.replayed ?? false }),
    filename: t.exposeString('filename'),
    files: t.exposeStringList('files', { description: 'Paths in the archive.' }),
    modelUsed: t.exposeBoolean('modelUsed', { description: 'Whether a model wrote src/feature.ts.' }),
    archiveBase64: t.string({ description: 'The ZIP archive, base64 (REST answers it as application/zip).', resolve: (s) => s.archive.toString('base64') }),
  }),
});

const options = (o: { style?: string | null; verbosity?: string | null; safetyFilters?: boolean | null } | null | undefined) =>
  o == null ? undefined : { style: o.style ?? undefined, verbosity: o.verbosity ?? undefined, safetyFilters: o.safetyFilters ?? undefined };

builder.mutationFields((t) => ({
  createGeneration: t.field({
    type: CreatePayload,
    description: 'Generates code from a prompt: prompts under 200 tokens answer completed (or failed), longer ones processing.',
    authScopes: { generate: true },
    skipTypeScopes: true,
    args: { input: t.arg({ type: CreateGenerationInput, required: true }), idempotencyKey: t.arg.string() },
    resolve: async (_r, { input, idempotencyKey }, ctx) => {
      const result = await createGeneration(
        ctx.deps,
        callerOf(ctx),
        {
          prompt: input.prompt,
          language: input.language ?? undefined,
          projectId: input.projectId == null ? undefined : String(input.projectId),
          teamId: input.teamId == null ? undefined : String(input.teamId),
          options: options(input.options),
        },
        idempotencyKey,
      );
      return result;
    },
  }),
  retryGeneration: t.field({
    type: RetryPayload,
    description: 'Runs a completed or failed generation again with the same prompt and options.',
    authScopes: { generate: true },
    skipTypeScopes: true,
    args: { id: t.arg.id({ required: true }), idempotencyKey: t.arg.string() },
    resolve: (_r, args, ctx) => retryGeneration(ctx.deps, callerOf(ctx), String(args.id), args.idempotencyKey),
  }),
  scaffoldProject: t.field({
    type: ScaffoldRef,
    description: 'A ZIP of a small project from a built-in template (http_service, cli, library) that builds and tests itself.',
    authScopes: { generate: true },
    skipTypeScopes: true,
    args: { input: t.arg({ type: ScaffoldInput, required: true }), idempotencyKey: t.arg.string() },
    resolve: (_r, { input, idempotencyKey }, ctx) =>
      scaffoldOnce(ctx.deps, callerOf(ctx), idempotencyKey, {
        name: input.name,
        template: input.template,
        language: input.language ?? undefined,
        description: input.description ?? undefined,
        projectId: input.projectId == null ? undefined : String(input.projectId),
        options:
          input.options == null
            ? undefined
            : Object.fromEntries(Object.entries(input.options).filter(([, v]) => v != null)),
      }),
  }),
}));

builder.subscriptionField('generationUpdated', (t) =>
  t.field({
    type: GenerationRef,
    description: 'The generation now, then again when it completes or fails (then the subscription ends).',
    authScopes: { read: true },
    args: { id: t.arg.id({ required: true }) },
    subscribe: async (_r, args, ctx) => {
      const id = String(args.id);
      await getGeneration(ctx.deps, callerOf(ctx), id); // 404 before the stream opens
      return watchGeneration(ctx.deps, callerOf(ctx), id);
    },
    resolve: (g) => g,
  }),
);

const ChatEventType = builder.enumType('ChatEventType', { values: { DELTA: { value: 'delta' }, DONE: { value: 'done' } } as const });

const ChatEventRef = builder.objectRef<ChatEvent>('ChatEvent').implement({
  description: 'A piece of the answer (DELTA), then DONE with the whole text and the token counts.',
  fields: (t) => ({
    type: t.field({ type: ChatEventType, resolve: (e) => e.type }),
    text: t.exposeString('text'),
    promptTokens: t.int({ nullable: true, resolve: (e) => (e.type === 'done' ? e.promptTokens : null) }),
    completionTokens: t.int({ nullable: true, resolve: (e) => (e.type === 'done' ? e.completionTokens : null) }),
    replayed: t.boolean({ description: 'Whether this replays the stored answer of an earlier request with the same idempotencyKey (the model was not called again).', resolve: (e) => e.replayed ?? false }),
  }),
});

const ChatMessageInput = builder.inputType('ChatMessageInput', {
  fields: (t) => ({ role: t.string({ required: true, description: 'system, user or assistant.' }), content: t.string({ required: true }) }),
});

const ChatInput = builder.inputType('ChatInput', {
  fields: (t) => ({
    messages: t.field({ type: [ChatMessageInput], required: true, description: 'The conversation so far, ending with the user\'s message.' }),
    projectId: t.id(),
    maxTokens: t.int(),
    temperature: t.float(),
  }),
});

builder.subscriptionField('chat', (t) =>
  t.field({
    type: ChatEventRef,
    description: 'Conversational assistance over the configured model, streamed; unsubscribing stops the model.',
    authScopes: { generate: true },
    skipTypeScopes: true,
    args: {
      input: t.arg({ type: ChatInput, required: true }),
      idempotencyKey: t.arg.string({ description: 'A repeat with the same key and input replays the first complete answer (one DELTA with the whole text, then DONE) without calling the model again.' }),
    },
    subscribe: (_r, { input, idempotencyKey }, ctx) =>
      openChat(
        ctx.deps,
        callerOf(ctx),
        {
          messages: input.messages,
          projectId: input.projectId == null ? undefined : String(input.projectId),
          maxTokens: input.maxTokens ?? undefined,
          temperature: input.temperature ?? undefined,
        },
        { idempotencyKey, onReplay: () => (ctx.replayed = true) },
      ),
    resolve: (e) => e,
  }),
);

// Sign-in (login, sign-up, refresh, logout), API keys and OAuth clients.
import type { ApiKey, OAuthClient } from '../../src/generated/prisma/client.js';
import { callerOf } from '../../src/context.js';
import { getApiKey, issueApiKey, listApiKeys, revokeApiKey } from '../../src/services/auth/api-keys.js';
import { createOAuthClient, getOAuthClient, listOAuthClients, revokeOAuthClient } from '../../src/services/auth/oauth-clients.js';
import { login, logout, refresh, signup, type TokenSet } from '../../src/services/auth/sessions.js';
import { issueOnce, withIdempotency } from '../../src/services/idempotency.js';
import { builder } from '../builder.js';
import { changeOnceFor, replayedField } from '../change-once.js';
import { connectionOf } from '../connection.js';
import { READ_RESOURCES, type ReadResource } from '../../src/services/auth/read-resources.js';

const AuthTokens = builder.objectRef<TokenSet>('AuthTokens').implement({
  description: 'A signed-in session: a short-lived access token and a single-use refresh token.',
  fields: (t) => ({
    accessToken: t.exposeString('accessToken', { description: 'A JWT; send it as "Authorization: Bearer …".' }),
    tokenType: t.exposeString('tokenType'),
    expiresIn: t.exposeInt('expiresIn', { description: 'Seconds until the access token expires.' }),
    refreshToken: t.exposeString('refreshToken', { description: 'Exchange it once with refreshSession for new tokens.' }),
  }),
});

const LoginInput = builder.inputType('LoginInput', {
  fields: (t) => ({ email: t.string({ required: true }), password: t.string({ required: true }) }),
});
const SignupInput = builder.inputType('SignupInput', {
  fields: (t) => ({ email: t.string({ required: true }), password: t.string({ required: true }), name: t.string() }),
});

const LogoutPayload = builder.objectRef<{ success: boolean; message: string }>('LogoutPayload').implement({
  fields: (t) => ({ success: t.exposeBoolean('success'), message: t.exposeString('message') }),
});

const TOKENS_ONCE = 'Tokens are issued once per key: a repeat with the same key answers 409 idempotency_conflict and issues nothing.';

/** A sign-in by e-mail, issued once per idempotency key (keyed by the normalized address). */
function signInOnce(db: Parameters<typeof issueOnce>[0], operation: 'login' | 'signup', email: string, key: string | null | undefined, run: () => Promise<TokenSet>) {
  return issueOnce(db, { subject: email.trim().toLowerCase(), key, operation, request: {} }, run);
}

builder.mutationFields((t) => ({
  login: t.field({
    type: AuthTokens,
    description: 'Signs in with e-mail and password. Repeated failures are throttled with growing delays.',
    authScopes: { public: true },
    skipTypeScopes: true,
    args: { input: t.arg({ type: LoginInput, required: true }), idempotencyKey: t.arg.string({ description: TOKENS_ONCE }) },
    resolve: (_root, { input, idempotencyKey }, ctx) => signInOnce(ctx.deps.db, 'login', input.email, idempotencyKey, () => login(ctx.deps, input, ctx.ip)),
  }),
  signup: t.field({
    type: AuthTokens,
    description: 'Creates an account and signs in; only when the server allows sign-up (ALLOW_SIGNUP). Sign-ups naming a taken e-mail are throttled like failed sign-ins.',
    authScopes: { public: true },
    skipTypeScopes: true,
    args: { input: t.arg({ type: SignupInput, required: true }), idempotencyKey: t.arg.string({ description: TOKENS_ONCE }) },
    resolve: (_root, { input, idempotencyKey }, ctx) => signInOnce(ctx.deps.db, 'signup', input.email, idempotencyKey, () => signup(ctx.deps, input, ctx.ip)),
  }),
  refreshSession: t.field({
    type: AuthTokens,
    description: 'New tokens for a refresh token. Each refresh token works once; reusing one ends the whole session.',
    authScopes: { public: true },
    skipTypeScopes: true,
    args: { refreshToken: t.arg.string({ required: true }), idempotencyKey: t.arg.string({ description: TOKENS_ONCE }) },
    resolve: (_root, args, ctx) => issueOnce(ctx.deps.db, { subject: args.refreshToken, key: args.idempotencyKey, operation: 'refreshSession', request: {} }, () => refresh(ctx.deps, args.refreshToken)),
  }),
  logout: t.field({
    type: LogoutPayload,
    description: 'Ends the current session; its access and refresh tokens stop working at once.',
    authScopes: { authenticated: true },
    skipTypeScopes: true,
    args: { idempotencyKey: t.arg.string({ description: 'Accepted like every mutation; a repeat cannot authenticate (the session has ended) and answers 401.' }) },
    resolve: async (_root, args, ctx) => {
      const caller = callerOf(ctx);
      await withIdempotency(ctx.deps.db, { principalId: caller.userId, key: args.idempotencyKey, operation: 'logout', request: {} }, async () => {
        await logout(ctx.deps, caller);
        return caller.credentialId;
      });
      return { success: true, message: 'Logged out successfully' };
    },
  }),
}));

const ApiKeyKind = builder.enumType('ApiKeyKind', {
  values: { SECRET: { value: 'secret' }, PUBLISHABLE: { value: 'publishable', description: 'Read and generation operations only, with a daily quota.' } } as const,
});

const ReadResourceEnum = builder.enumType('ReadResource', {
  description: 'What a publishable key may read besides what it created itself.',
  values: Object.fromEntries(READ_RESOURCES.map((r) => [r.toUpperCase(), { value: r }])) as { [K in ReadResource as Uppercase<K>]: { value: K } },
});

export const ApiKeyRef = builder.objectRef<ApiKey>('ApiKey');

builder.node(ApiKeyRef, {
  description: 'An API key. Its secret is shown once, when it is created.',
  id: { resolve: (key) => key.id },
  loadOne: (id, ctx) => getApiKey(ctx.deps, callerOf(ctx), id),
  authScopes: { $any: { account: true, chose: 'api_keys' } },
  fields: (t) => ({
    name: t.exposeString('name'),
    kind: t.field({ type: ApiKeyKind, resolve: (key) => key.kind }),
    prefix: t.exposeString('displayPrefix', { description: 'The first characters of the key, to tell keys apart.' }),
    allowedCidrs: t.exposeStringList('allowedCidrs', { description: 'IP ranges the key works from; empty: anywhere.' }),
    readResources: t.field({
      type: [ReadResourceEnum],
      description: 'Publishable keys: what they read besides what they created (empty for secret keys, which read everything).',
      resolve: (key) => key.readResources as ReadResource[],
    }),
    createdAt: t.field({ type: 'DateTime', resolve: (key) => key.createdAt }),
    lastUsedAt: t.field({ type: 'DateTime', nullable: true, resolve: (key) => key.lastUsedAt, description: 'Minute resolution.' }),
    revokedAt: t.field({ type: 'DateTime', nullable: true, resolve: (key) => key.revokedAt }),
  }),
});

const CreateApiKeyInput = builder.inputType('CreateApiKeyInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    kind: t.field({ type: ApiKeyKind, defaultValue: 'secret' }),
    allowedCidrs: t.stringList({ description: 'Limit the key to these IP ranges (CIDR), e.g. ["203.0.113.0/24"].' }),
    readResources: t.field({
      type: [ReadResourceEnum],
      description: 'Publishable keys only: what the key may read besides what it creates (default GENERATIONS). Source search, member e-mails, keys, webhooks, OAuth clients and billing only when listed.',
    }),
  }),
});

const CreateApiKeyPayload = builder.objectRef<{ apiKey: ApiKey; secret: string | null; replayed: boolean }>('CreateApiKeyPayload').implement({
  fields: (t) => ({
    apiKey: t.field({ type: ApiKeyRef, resolve: (p) => p.apiKey }),
    secret: t.exposeString('secret', { nullable: true, description: 'The key itself, shown this once (null on an idempotent replay: it is not stored).' }),
    replayed: t.exposeBoolean('replayed'),
  }),
});

const ApiKeyPayload = builder.objectRef<{ apiKey: ApiKey; replayed?: boolean }>('RevokeApiKeyPayload').implement({
  fields: (t) => ({ apiKey: t.field({ type: ApiKeyRef, resolve: (p) => p.apiKey }), replayed: replayedField(t) }),
});

export const OAuthClientRef = builder.objectRef<OAuthClient>('OAuthClient');

builder.node(OAuthClientRef, {
  description: 'An OAuth 2.0 client for the client credentials grant at POST /v1/oauth/token. Its id is the client_id.',
  id: { resolve: (c) => c.id },
  loadOne: (id, ctx) => getOAuthClient(ctx.deps, callerOf(ctx), id),
  authScopes: { $any: { account: true, chose: 'oauth_clients' } },
  fields: (t) => ({
    name: t.exposeString('name'),
    clientId: t.exposeString('id'),
    teamId: t.exposeID('teamId', { nullable: true, description: 'Tokens of this client act for this team.' }),
    scopes: t.exposeStringList('scopes', { description: 'Scopes its tokens may hold; account only when asked for by name.' }),
    createdAt: t.field({ type: 'DateTime', resolve: (c) => c.createdAt }),
    lastUsedAt: t.field({ type: 'DateTime', nullable: true, resolve: (c) => c.lastUsedAt }),
    revokedAt: t.field({ type: 'DateTime', nullable: true, resolve: (c) => c.revokedAt }),
  }),
});

const CreateOAuthClientInput = builder.inputType('CreateOAuthClientInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    teamId: t.id({ description: 'Act for this team (you must be its admin or owner).' }),
    scopes: t.stringList({ description: 'Scopes its tokens may hold (read, write, generate, account); default read, write, generate. A team client cannot hold account.' }),
  }),
});

const CreateOAuthClientPayload = builder
  .objectRef<{ client: OAuthClient; clientSecret: string | null; replayed: boolean }>('CreateOAuthClientPayload')
  .implement({
    fields: (t) => ({
      client: t.field({ type: OAuthClientRef, resolve: (p) => p.client }),
      clientSecret: t.exposeString('clientSecret', { nullable: true, description: 'Shown this once (null on an idempotent replay).' }),
      replayed: t.exposeBoolean('replayed'),
    }),
  });

const OAuthClientPayload = builder.objectRef<{ client: OAuthClient; replayed?: boolean }>('RevokeOAuthClientPayload').implement({
  fields: (t) => ({ client: t.field({ type: OAuthClientRef, resolve: (p) => p.client }), replayed: replayedField(t) }),
});

builder.queryFields((t) => ({
  apiKey: t.field({
    type: ApiKeyRef,
    authScopes: { $any: { account: true, chose: 'api_keys' } },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => getApiKey(ctx.deps, callerOf(ctx), String(args.id)),
  }),
  apiKeys: t.connection({
    type: ApiKeyRef,
    description: 'Your API keys, active and revoked, newest first.',
    authScopes: { $any: { account: true, chose: 'api_keys' } },
    resolve: async (_root, args, ctx) => connectionOf(await listApiKeys(ctx.deps, callerOf(ctx), args)),
  }),
  oauthClient: t.field({
    type: OAuthClientRef,
    authScopes: { $any: { account: true, chose: 'oauth_clients' } },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => getOAuthClient(ctx.deps, callerOf(ctx), String(args.id)),
  }),
  oauthClients: t.connection({
    type: OAuthClientRef,
    description: 'Your OAuth clients, newest first.',
    authScopes: { $any: { account: true, chose: 'oauth_clients' } },
    resolve: async (_root, args, ctx) => connectionOf(await listOAuthClients(ctx.deps, callerOf(ctx), args)),
  }),
}));

builder.mutationFields((t) => ({
  createApiKey: t.field({
    type: CreateApiKeyPayload,
    description: 'Creates an API key (at most 25 active per account). The secret is in this response only.',
    authScopes: { account: true },
    skipTypeScopes: true,
    args: { input: t.arg({ type: CreateApiKeyInput, required: true }), idempotencyKey: t.arg.string() },
    resolve: async (_root, { input, idempotencyKey }, ctx) => {
      const { key, secret, replayed } = await issueApiKey(ctx.deps, callerOf(ctx), input, idempotencyKey);
      return { apiKey: key, secret, replayed };
    },
  }),
  revokeApiKey: t.field({
    type: ApiKeyPayload,
    description: 'Revokes a key for good: the next request with it answers 401.',
    authScopes: { account: true },
    skipTypeScopes: true,
    args: { id: t.arg.id({ required: true }), idempotencyKey: t.arg.string() },
    resolve: (_root, args, ctx) =>
      changeOnceFor(
        ctx,
        'revokeApiKey',
        args,
        async () => ({ apiKey: await revokeApiKey(ctx.deps, callerOf(ctx), String(args.id)) }),
        (p) => p.apiKey.id,
        async (keyId) => ({ apiKey: await getApiKey(ctx.deps, callerOf(ctx), keyId) }),
      ),
  }),
  createOAuthClient: t.field({
    type: CreateOAuthClientPayload,
    description: 'Creates an OAuth client; exchange its id and secret at POST /v1/oauth/token for one-hour access tokens.',
    authScopes: { account: true },
    skipTypeScopes: true,
    args: { input: t.arg({ type: CreateOAuthClientInput, required: true }), idempotencyKey: t.arg.string() },
    resolve: async (_root, { input, idempotencyKey }, ctx) => {
      const request = { name: input.name, teamId: input.teamId == null ? null : String(input.teamId), scopes: input.scopes };
      const { client, secret, replayed } = await createOAuthClient(ctx.deps, callerOf(ctx), request, idempotencyKey);
      return { client, clientSecret: secret, replayed };
    },
  }),
  revokeOAuthClient: t.field({
    type: OAuthClientPayload,
    description: 'Revokes an OAuth client: its tokens stop working on the next request.',
    authScopes: { account: true },
    skipTypeScopes: true,
    args: { id: t.arg.id({ required: true }), idempotencyKey: t.arg.string() },
    resolve: (_root, args, ctx) =>
      changeOnceFor(
        ctx,
        'revokeOAuthClient',
        args,
        async () => ({ client: await revokeOAuthClient(ctx.deps, callerOf(ctx), String(args.id)) }),
        (p) => p.client.id,
        async (clientId) => ({ client: await getOAuthClient(ctx.deps, callerOf(ctx), clientId) }),
      ),
  }),
}));

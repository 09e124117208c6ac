// A team's SCIM tokens: what its identity provider provisions the team's users with at /scim/v2.
import type { ScimToken } from '../../src/generated/prisma/client.js';
import { callerOf } from '../../src/context.js';
import { withIdempotency } from '../../src/services/idempotency.js';
import { createScimToken, listScimTokens, revokeScimToken } from '../../src/services/scim/tokens.js';
import { builder } from '../builder.js';
import { changeOnceFor, replayedField } from '../change-once.js';

const ScimTokenRef = builder.objectRef<ScimToken>('ScimToken').implement({
  description: "A bearer token with which a team's identity provider provisions its users over SCIM 2.0 (/scim/v2). Its secret is shown once, when it is created.",
  fields: (t) => ({
    id: t.exposeID('id'),
    teamId: t.exposeID('teamId'),
    name: t.exposeString('name'),
    prefix: t.exposeString('displayPrefix', { description: 'The first characters of the token, to tell tokens apart.' }),
    createdBy: t.exposeID('createdBy', { description: 'The owner who created it.' }),
    createdAt: t.field({ type: 'DateTime', resolve: (s) => s.createdAt }),
    lastUsedAt: t.field({ type: 'DateTime', nullable: true, resolve: (s) => s.lastUsedAt, description: 'Minute resolution.' }),
    revokedAt: t.field({ type: 'DateTime', nullable: true, resolve: (s) => s.revokedAt }),
  }),
});

const CreateScimTokenPayload = builder.objectRef<{ scimToken: ScimToken; secret: string | null; replayed: boolean }>('CreateScimTokenPayload').implement({
  fields: (t) => ({
    scimToken: t.field({ type: ScimTokenRef, resolve: (p) => p.scimToken }),
    secret: t.exposeString('secret', { nullable: true, description: 'The token itself, shown this once (null on an idempotent replay: it is not stored).' }),
    replayed: t.exposeBoolean('replayed'),
  }),
});

const RevokeScimTokenPayload = builder.objectRef<{ scimToken: ScimToken; replayed?: boolean }>('RevokeScimTokenPayload').implement({
  fields: (t) => ({ scimToken: t.field({ type: ScimTokenRef, resolve: (p) => p.scimToken }), replayed: replayedField(t) }),
});

builder.queryFields((t) => ({
  scimTokens: t.field({
    type: [ScimTokenRef],
    description: "A team's SCIM tokens, active and revoked, newest first (owners only).",
    authScopes: { account: true },
    args: { teamId: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => listScimTokens(ctx.deps, callerOf(ctx), String(args.teamId)),
  }),
}));

builder.mutationFields((t) => ({
  createScimToken: t.field({
    type: CreateScimTokenPayload,
    description: 'Creates a SCIM token for a team (owners only; at most 10 active). The secret is in this response only.',
    authScopes: { account: true },
    skipTypeScopes: true,
    args: {
      teamId: t.arg.id({ required: true }),
      input: t.arg({ type: builder.inputType('CreateScimTokenInput', { fields: (f) => ({ name: f.string({ required: true }) }) }), required: true }),
      idempotencyKey: t.arg.string(),
    },
    resolve: async (_root, { teamId, input, idempotencyKey }, ctx) => {
      const caller = callerOf(ctx);
      const made: { created?: { token: ScimToken; secret: string } } = {};
      const { resourceId, replayed } = await withIdempotency(
        ctx.deps.db,
        { principalId: caller.userId, key: idempotencyKey, operation: 'createScimToken', request: { teamId, input } },
        async () => {
          made.created = await createScimToken(ctx.deps, caller, String(teamId), input);
          return made.created.token.id;
        },
      );
      const scimToken = made.created?.token ?? (await listScimTokens(ctx.deps, caller, String(teamId))).find((s) => s.id === resourceId)!;
      return { scimToken, secret: made.created?.secret ?? null, replayed };
    },
  }),
  revokeScimToken: t.field({
    type: RevokeScimTokenPayload,
    description: "Revokes a team's SCIM token (owners only): the identity provider's next request with it answers 401.",
    authScopes: { account: true },
    skipTypeScopes: true,
    args: { teamId: t.arg.id({ required: true }), id: t.arg.id({ required: true }), idempotencyKey: t.arg.string() },
    resolve: (_root, args, ctx) =>
      changeOnceFor(
        ctx,
        'revokeScimToken',
        args,
        async () => ({ scimToken: await revokeScimToken(ctx.deps, callerOf(ctx), String(args.teamId), String(args.id)) }),
        (p) => p.scimToken.id,
        async (id) => ({ scimToken: await ctx.deps.db.scimToken.findUniqueOrThrow({ where: { id } }) }),
      ),
  }),
}));

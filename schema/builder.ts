// The Pothos builder: plugins, the context type and the auth scopes. Types live in schema/types/.
import SchemaBuilder from '@pothos/core';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import type { GraphQLContext } from '../src/context.js';
import { AuthenticationError, NotFoundError, PermissionDeniedError } from '../src/errors.js';
import { idKind, type IdKind } from '../src/ids.js';
import { mayRead, type ReadResource } from '../src/services/auth/read-resources.js';

const typenameByKind: Partial<Record<IdKind, string>> = {
  task: 'Task',
  user: 'User',
  apiKey: 'ApiKey',
  team: 'Team',
  oauthClient: 'OAuthClient',
  orchestration: 'Orchestration',
  generation: 'Generation',
  project: 'Project',
  review: 'Review',
  visualization: 'Visualization',
};

/**
 * The one authorization model: every root field names the scopes it needs, and REST gets the same
 * rules because each REST route runs a GraphQL operation. `public` fields (sign-in) need nothing;
 * `authenticated` needs any valid credential; `read`, `write`, `generate` and `account` are what a
 * credential may do (publishable keys hold read and generate only). `sees: <resource>` narrows
 * reading further for publishable keys (to what their creator chose, see read-resources.ts; true
 * for every other credential) and `chose: <resource>` is true only for a publishable key whose
 * creator chose that resource (what it may read without the account scope: keys, OAuth clients).
 */
export interface AuthScopes {
  public: boolean;
  authenticated: boolean;
  read: boolean;
  write: boolean;
  generate: boolean;
  account: boolean;
  sees: ReadResource;
  chose: ReadResource;
}

export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  AuthScopes: AuthScopes;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    DateOrDateTime: { Input: string; Output: string };
    JSONObject: { Input: Record<string, unknown>; Output: unknown };
  };
  DefaultFieldNullability: false;
}>({
  plugins: [ScopeAuthPlugin, RelayPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    authScopes: (ctx) => {
      const scopes = ctx.principal?.scopes ?? [];
      return {
        public: true,
        authenticated: !!ctx.principal,
        read: scopes.includes('read'),
        write: scopes.includes('write'),
        generate: scopes.includes('generate'),
        account: scopes.includes('account'),
        sees: (resource: ReadResource) => mayRead(ctx.principal, resource),
        chose: (resource: ReadResource) => !!ctx.principal?.readResources?.includes(resource),
      };
    },
    unauthorizedError: (_parent, ctx, info) =>
      ctx.principal
        ? new PermissionDeniedError(
            ctx.principal.keyKind === 'publishable'
              ? `Publishable keys reach only read and generation operations, and read only what their creator chose (read_resources); ${info.fieldName} is not among them.`
              : ctx.principal.teamId
                ? `This credential acts for team ${ctx.principal.teamId} and cannot use ${info.fieldName}: keys, OAuth clients, billing and account settings belong to a person.`
                : `This credential may not use ${info.fieldName}.`,
          )
        : new AuthenticationError(),
  },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    // Our ids already carry their type (task_…, user_…): the REST id and Node.id are the same string.
    encodeGlobalID: (_typename, id) => String(id),
    decodeGlobalID: (globalID) => {
      const typename = typenameByKind[idKind(globalID) ?? 'request'];
      if (!typename) throw new NotFoundError('node', globalID);
      return { typename, id: globalID };
    },
    nodeQueryOptions: { authScopes: { read: true } },
    nodesQueryOptions: { authScopes: { read: true } },
  },
});

/** The builder's schema types, for typing a field builder taken as an argument. */
export type BuilderTypes = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer Types> ? Types : never;

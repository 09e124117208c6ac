/**
 * The typed `graphql()` of the REST layer: a document written with it carries the types of its
 * variables and result, inferred from the printed schema (introspected offline into
 * graphql-env.d.ts by `npm run schema:print`). Fragments are not masked: an operation's result
 * includes the fields of the fragments it spreads.
 */
import { initGraphQLTada } from 'gql.tada';
import type { introspection } from './graphql-env.js';

export const graphql = initGraphQLTada<{
  introspection: introspection;
  scalars: { DateTime: string; DateOrDateTime: string; JSONObject: Record<string, unknown> };
  disableMasking: true;
}>();

export type { ResultOf, VariablesOf } from 'gql.tada';

/**
 * The cost of a GraphQL operation, computed from the query before it runs (so a refused query
 * costs nothing and runs no resolver), and the shape limits every operation must keep:
 *  - credits (what the monthly quota counts): a root field costs its `extensions.cost`
 *    (default 1), a nested field its own (default 0); `extensions.cost` may be a function of the
 *    field's arguments (bulk operations by size);
 *  - the rate cost (what the per-minute and per-hour windows count): the credits, plus the work of
 *    fields that are free of credits (`extensions.work`: reading usage runs queries), at least 1
 *    per field selected under an alias (it runs its resolver again), plus introspection; at least
 *    1 per operation;
 *  - a connection costs one credit per started 20 items it asks for (`first`/`last`, default 20),
 *    a list fetched by ids (`nodes(ids:)`) one per started 20 ids, and both multiply what is
 *    selected below them by that many items (list sizes multiply);
 *  - fragments count where they are spread.
 * Depth is the deepest field path. Aliases, `__schema` selections and ids per list are counted
 * for `checkShape`; depth and cost have per-tier ceilings (see Limiter.checkQuery).
 */
import {
  getNamedType,
  getNullableType,
  isListType,
  isObjectType,
  isInterfaceType,
  Kind,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  valueFromASTUntyped,
} from 'graphql';
import { InvalidRequestError } from '../errors.js';

const DEFAULT_PAGE = 20;
const PER_CREDIT = 20;
/** What one `__schema` selection (the whole schema, about 80 KB of JSON) and one `__type` count against the windows. */
export const SCHEMA_INTROSPECTION_COST = 5;
export const TYPE_INTROSPECTION_COST = 1;

export interface OperationCost {
  /** Credits: what the monthly quota counts. */
  cost: number;
  /** What the per-minute and per-hour windows count (at least `cost`, at least 1). */
  rateCost: number;
  depth: number;
  /** Fields selected under an alias (a fragment's count at each spread). */
  aliases: number;
  /** `__schema` selections. */
  schemaIntrospections: number;
  /** The most ids one field was given in its `ids` argument (`nodes`). */
  maxIds: number;
}

/** The shape every operation must keep, whoever sends it. */
export interface ShapeLimits {
  maxAliases: number;
  maxIds: number;
}

/**
 * How an operation is priced. `selection` (GraphQL): the caller chose the selection, so nested
 * fields and page sizes count as above. `request` (the REST routes, the chat stream and the task
 * WebSocket, whose documents the gateway wrote): one request costs what its root fields declare
 * (`extensions.cost`, default 1; `extensions.work` against the windows), whatever the page size,
 * as the REST API promises ("most endpoints cost 1 credit; multi-file operations 5–10").
 */
export type Pricing = 'selection' | 'request';

export function operationCost(
  schema: GraphQLSchema,
  operation: OperationDefinitionNode,
  fragments: Record<string, FragmentDefinitionNode>,
  variables: Record<string, unknown> = {},
  pricing: Pricing = 'selection',
): OperationCost {
  const result: OperationCost = { cost: 0, rateCost: 0, depth: 0, aliases: 0, schemaIntrospections: 0, maxIds: 0 };
  const root = schema.getRootType(operation.operation);
  if (!root) return result;

  const argument = (field: FieldNode, name: string): unknown => {
    const arg = field.arguments?.find((a) => a.name.value === name);
    return arg ? valueFromASTUntyped(arg.value, variables) : undefined;
  };
  const numberArgument = (field: FieldNode, name: string): number | null => {
    const value = argument(field, name);
    return typeof value === 'number' ? value : null;
  };

  const argumentsOf = (field: FieldNode): Record<string, unknown> =>
    Object.fromEntries((field.arguments ?? []).map((a) => [a.name.value, valueFromASTUntyped(a.value, variables)]));

  type Total = { credits: number; rate: number };
  // `items`: the page size when `set` is a connection's selection; its edges and nodes are
  // counted once per item, its own fields (pageInfo, totalCount) once.
  const walk = (type: GraphQLCompositeType, set: SelectionSetNode, level: number, isRoot: boolean, seen: Set<string>, items = 1): Total => {
    result.depth = Math.max(result.depth, level);
    const total: Total = { credits: 0, rate: 0 };
    const add = (t: Total, times = 1) => {
      total.credits += t.credits * times;
      total.rate += t.rate * times;
    };
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        if (selection.alias) result.aliases += 1;
        const name = selection.name.value;
        if (name === '__schema') {
          result.schemaIntrospections += 1;
          add({ credits: 0, rate: SCHEMA_INTROSPECTION_COST });
          continue;
        }
        if (name === '__type') {
          add({ credits: 0, rate: TYPE_INTROSPECTION_COST });
          continue;
        }
        if (name.startsWith('__')) continue;
        const fieldDef = isObjectType(type) || isInterfaceType(type) ? type.getFields()[name] : undefined;
        if (!fieldDef) continue;
        const named = getNamedType(fieldDef.type);
        const ids = argument(selection, 'ids');
        const byIds = Array.isArray(ids) && isListType(getNullableType(fieldDef.type));
        if (byIds) result.maxIds = Math.max(result.maxIds, (ids as unknown[]).length);
        const connection = named.name.endsWith('Connection');
        const page = byIds
          ? (ids as unknown[]).length
          : connection
            ? Math.max(0, numberArgument(selection, 'first') ?? numberArgument(selection, 'last') ?? DEFAULT_PAGE)
            : 1;
        const rule = fieldDef.extensions?.cost;
        const declared = typeof rule === 'number' ? rule : typeof rule === 'function' ? Number((rule as (args: Record<string, unknown>) => unknown)(argumentsOf(selection))) : null;
        const perRequest = pricing === 'request' && isRoot;
        const credits = declared ?? (perRequest ? 1 : connection || byIds ? Math.max(1, Math.ceil(page / PER_CREDIT)) : isRoot ? 1 : 0);
        const work = fieldDef.extensions?.work;
        const times = name === 'edges' || name === 'nodes' ? items : 1;
        // An alias runs the field's resolver once more: at least 1 against the windows.
        add({ credits, rate: Math.max(credits, typeof work === 'number' ? work : 0, selection.alias ? 1 : 0) }, times);
        if (perRequest) continue;
        if (selection.selectionSet && (isObjectType(named) || isInterfaceType(named) || 'getTypes' in named)) {
          const below = walk(named as GraphQLCompositeType, selection.selectionSet, level + 1, false, seen, connection ? page : 1);
          add(below, connection ? times : page * times);
        }
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const cond = selection.typeCondition ? (schema.getType(selection.typeCondition.name.value) as GraphQLCompositeType) : type;
        add(walk(cond ?? type, selection.selectionSet, level, isRoot, seen, items));
      } else {
        const fragment = fragments[selection.name.value];
        if (!fragment || seen.has(fragment.name.value)) continue; // a cycle is a validation error anyway
        const cond = schema.getType(fragment.typeCondition.name.value) as GraphQLCompositeType;
        add(walk(cond ?? type, fragment.selectionSet, level, isRoot, new Set([...seen, fragment.name.value]), items));
      }
    }
    return total;
  };

  const total = walk(root, operation.selectionSet, 0, true, new Set());
  result.cost = total.credits;
  result.rateCost = Math.max(1, total.rate);
  return result;
}

/**
 * Refuses an operation whose shape no caller may send, authenticated or not: more aliased fields
 * than `maxAliases` (each alias runs its resolver again), more than one `__schema`, or more ids
 * than `maxIds` in one `ids` list.
 */
export function checkShape(cost: OperationCost, limits: ShapeLimits): void {
  if (cost.aliases > limits.maxAliases) {
    throw new InvalidRequestError(
      `The operation selects ${cost.aliases} fields under aliases; at most ${limits.maxAliases} are allowed. Split it into several operations.`,
      { limit: 'max_aliases', value: cost.aliases, max: limits.maxAliases },
    );
  }
  if (cost.schemaIntrospections > 1) {
    throw new InvalidRequestError(
      `The operation selects __schema ${cost.schemaIntrospections} times; at most once per operation is allowed. Ask for it once and reuse the answer.`,
      { limit: 'max_introspection', value: cost.schemaIntrospections, max: 1 },
    );
  }
  if (cost.maxIds > limits.maxIds) {
    throw new InvalidRequestError(
      `The operation asks for ${cost.maxIds} ids in one list; at most ${limits.maxIds} are allowed. Ask for them in batches of ${limits.maxIds}.`,
      { limit: 'max_ids', value: cost.maxIds, max: limits.maxIds },
    );
  }
}

/**
 * The credit cost of a GraphQL operation, computed from the query before it runs (so a refused
 * query costs nothing and runs no resolver):
 *  - a root field costs its `extensions.cost` (default 1), a nested field its own (default 0);
 *    `extensions.cost` may be a function of the field's arguments (bulk operations by size);
 *  - a connection costs one credit per started 20 items it asks for (`first`/`last`, default 20),
 *    and multiplies what is selected below it by that page size (list sizes multiply);
 *  - fragments count where they are spread.
 * Depth is the deepest field path. Both have per-tier ceilings (see Limiter.checkQuery).
 */
import {
  getNamedType,
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

const DEFAULT_PAGE = 20;
const PER_CREDIT = 20;

export interface OperationCost {
  cost: number;
  depth: number;
}

export function operationCost(
  schema: GraphQLSchema,
  operation: OperationDefinitionNode,
  fragments: Record<string, FragmentDefinitionNode>,
  variables: Record<string, unknown> = {},
): OperationCost {
  const root = schema.getRootType(operation.operation);
  if (!root) return { cost: 0, depth: 0 };
  let depth = 0;

  const argument = (field: FieldNode, name: string): number | null => {
    const arg = field.arguments?.find((a) => a.name.value === name);
    if (!arg) return null;
    const value = valueFromASTUntyped(arg.value, variables);
    return typeof value === 'number' ? value : null;
  };

  const argumentsOf = (field: FieldNode): Record<string, unknown> =>
    Object.fromEntries((field.arguments ?? []).map((a) => [a.name.value, valueFromASTUntyped(a.value, variables)]));

  const walk = (type: GraphQLCompositeType, set: SelectionSetNode, level: number, isRoot: boolean, seen: Set<string>): number => {
    depth = Math.max(depth, level);
    let total = 0;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        if (selection.name.value.startsWith('__')) continue;
        const fieldDef = isObjectType(type) || isInterfaceType(type) ? type.getFields()[selection.name.value] : undefined;
        if (!fieldDef) continue;
        const named = getNamedType(fieldDef.type);
        const connection = named.name.endsWith('Connection');
        const page = connection ? Math.max(0, argument(selection, 'first') ?? argument(selection, 'last') ?? DEFAULT_PAGE) : 1;
        const rule = fieldDef.extensions?.cost;
        const declared = typeof rule === 'number' ? rule : typeof rule === 'function' ? Number(rule(argumentsOf(selection))) : null;
        const own = declared ?? (connection ? Math.max(1, Math.ceil(page / PER_CREDIT)) : isRoot ? 1 : 0);
        let below = 0;
        if (selection.selectionSet && (isObjectType(named) || isInterfaceType(named) || 'getTypes' in named)) {
          below = walk(named as GraphQLCompositeType, selection.selectionSet, level + 1, false, seen);
        }
        total += own + page * below;
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const cond = selection.typeCondition ? (schema.getType(selection.typeCondition.name.value) as GraphQLCompositeType) : type;
        total += walk(cond ?? type, selection.selectionSet, level, isRoot, seen);
      } else {
        const fragment = fragments[selection.name.value];
        if (!fragment || seen.has(fragment.name.value)) continue; // a cycle is a validation error anyway
        const cond = schema.getType(fragment.typeCondition.name.value) as GraphQLCompositeType;
        total += walk(cond ?? type, fragment.selectionSet, level, isRoot, new Set([...seen, fragment.name.value]));
      }
    }
    return total;
  };

  const cost = walk(root, operation.selectionSet, 0, true, new Set());
  return { cost, depth };
}

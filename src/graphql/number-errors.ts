/**
 * graphql-js refuses a number its `Int` (32-bit) or `Float` cannot hold before any resolver runs:
 * written in the document, as a validation error; sent in a variable, as a variable error. Its
 * errors name neither the argument nor the field, so both are turned here into a ValidationError
 * (VALIDATION_ERROR; 422 validation_error on REST) that names the field as the services' own
 * validation does: the argument, or the field inside an input-object argument
 * (`executeAgentTask(input: {timeoutSeconds})` → `timeoutSeconds`).
 */
import { BREAK, Kind, parse, visit, type ASTNode, type Source, type ValueNode, type VariableDefinitionNode } from 'graphql';
import { INT32_MAX, INT32_MIN, wholeNumberMessage } from '../bounded-int.js';
import { ValidationError } from '../errors.js';

/** The messages of graphql-js's Int and Float scalars when they refuse an input value. */
const SCALAR_REFUSAL = /^(Int|Float) cannot represent /;

const VALUE_KINDS = new Set<string>([Kind.INT, Kind.FLOAT, Kind.STRING, Kind.BOOLEAN, Kind.NULL, Kind.ENUM, Kind.LIST, Kind.OBJECT]);

interface GraphQLErrorLike {
  message: string;
  nodes?: readonly ASTNode[];
  path?: readonly unknown[];
  source?: Source;
  originalError?: unknown;
}

/** The number refusal behind a GraphQL error (as Apollo, graphql-ws or execute hand it over) as a ValidationError, or null. */
export function numberInputError(error: unknown): ValidationError | null {
  const chain: GraphQLErrorLike[] = [];
  for (let e = error; e && typeof e === 'object' && chain.length < 5; e = (e as GraphQLErrorLike).originalError) chain.push(e as GraphQLErrorLike);
  const refusal = chain.find((e) => typeof e.message === 'string' && SCALAR_REFUSAL.test(e.message));
  // An error with a path is a resolver's result that did not serialize: ours, not the caller's.
  if (!refusal || chain.some((e) => e.path?.length)) return null;
  const variableError = chain.find((e) => e.nodes?.[0]?.kind === Kind.VARIABLE_DEFINITION && e.message.startsWith('Variable "$'));
  const literal = refusal.nodes?.[0];
  let segments: string[] | null;
  if (variableError) segments = variableSegments(variableError, refusal.message);
  else if (literal && VALUE_KINDS.has(literal.kind)) segments = literalSegments(literal);
  else return null;
  const message = refusal.message.startsWith('Int') ? wholeNumberMessage(INT32_MIN, INT32_MAX) : 'must be a number';
  const field = segments && segments.length > 1 ? segments.slice(1) : segments;
  return new ValidationError([{ field: field?.length ? field.join('.') : '(request)', message }]);
}

/**
 * Where a bad variable value sits: where the variable is used, then the path inside it that
 * graphql-js prints (`Variable "$input" got invalid value 2147483648 at "input.timeoutSeconds"; …`).
 */
function variableSegments(error: GraphQLErrorLike, refusal: string): string[] {
  const definition = error.nodes![0] as VariableDefinitionNode;
  const name = definition.variable.name.value;
  const head = error.message.endsWith(`; ${refusal}`) ? error.message.slice(0, -(refusal.length + 2)) : error.message;
  const at = / at "([^"]*)"$/.exec(head)?.[1];
  const inside = at?.startsWith(name) ? [...at.slice(name.length).matchAll(/\.([^.[]+)|\[(\d+)\]/g)].map((m) => m[1] ?? m[2]) : [];
  const source = definition.loc?.source;
  const usages = new Set<string>();
  if (source) {
    visit(parse(source), {
      Variable(node, _key, parent, _path, ancestors) {
        const chain = [...ancestors, parent!];
        if (node.name.value === name && !chain.some((a) => !Array.isArray(a) && (a as ASTNode).kind === Kind.VARIABLE_DEFINITION)) {
          usages.add(JSON.stringify(segmentsTo(node, chain)));
        }
      },
    });
  }
  // Used in one place: name it as the argument; used in several, the variable is the only name that fits.
  const usedAt = usages.size === 1 ? (JSON.parse([...usages][0]) as string[]) : [];
  return usedAt.length ? [...usedAt, ...inside] : [name, ...inside];
}

/** Where a bad literal sits in its document (found again by its position: nodes do not know their parents). */
function literalSegments(node: ASTNode): string[] | null {
  const source = node.loc?.source;
  if (!source) return null;
  let found: string[] | null = null;
  visit(parse(source), {
    enter(candidate, _key, parent, _path, ancestors) {
      if (candidate.loc?.start === node.loc!.start && VALUE_KINDS.has(candidate.kind)) {
        found = segmentsTo(candidate, [...ancestors, parent!]);
        return BREAK;
      }
      return undefined;
    },
  });
  return found;
}

/** Argument, input-field and list-index names from the operation down to `target` (`above`: its ancestors and parent, as visit gives them). */
function segmentsTo(target: ASTNode, above: ReadonlyArray<ASTNode | ReadonlyArray<ASTNode>>): string[] {
  const nodes = [...above.filter((a): a is ASTNode => !Array.isArray(a)), target];
  const segments: string[] = [];
  nodes.forEach((node, i) => {
    if (node.kind === Kind.ARGUMENT || node.kind === Kind.OBJECT_FIELD) segments.push(node.name.value);
    else if (node.kind === Kind.VARIABLE_DEFINITION) segments.push(node.variable.name.value);
    else if (node.kind === Kind.LIST) segments.push(String(node.values.indexOf(nodes[i + 1] as ValueNode)));
  });
  return segments;
}

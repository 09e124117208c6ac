/**
 * SCIM filters (RFC 7644 §3.4.2.2) over a team's resources. SCIMMY parses the grammar and matches
 * values; this module checks that a parsed filter names only attributes the resource type can be
 * filtered on (400 invalidFilter otherwise, and for a comparison without a value), and makes the
 * attributes SCIM compares case-insensitively (`caseExact: false`, such as userName) match that way.
 */
import SCIMMY from 'scimmy';

/** Filterable attribute paths (lower-cased) and whether they compare case-sensitively. */
export type FilterAttributes = Record<string, { caseExact: boolean }>;

const COMPARATORS = new Set(['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'lt', 'ge', 'le', 'pr', 'np']);
const invalid = (message: string) => new SCIMMY.Types.Error(400, 'invalidFilter', message);

/** A filter's expression with the values of case-insensitive attributes lower-cased; throws invalidFilter on what it cannot serve. */
function normalise(expr: unknown, path: string, attributes: FilterAttributes): unknown {
  if (Array.isArray(expr) && typeof expr[0] === 'string') {
    const known = attributes[path.toLowerCase()];
    if (!known) throw invalid(`Filtering on "${path}" is not supported; filter on ${Object.keys(attributes).join(', ')}.`);
    const negated = expr[0].toLowerCase() === 'not';
    const [op, ...rest] = (negated ? expr.slice(1) : expr) as [string, ...unknown[]];
    if (!COMPARATORS.has(String(op).toLowerCase())) throw invalid(`"${op}" is not a SCIM comparison operator.`);
    const unary = ['pr', 'np'].includes(op.toLowerCase());
    if (!unary && rest.length === 0) throw invalid(`The comparison "${path} ${op}" has no value.`);
    const value = rest[0];
    const lowered = !known.caseExact && typeof value === 'string' ? value.toLowerCase() : value;
    return [...(negated ? ['not'] : []), op, ...(unary ? [] : [lowered])];
  }
  if (Array.isArray(expr)) return expr.map((e) => normalise(e, path, attributes));
  if (expr && typeof expr === 'object') {
    return Object.fromEntries(Object.entries(expr).map(([key, value]) => [key, normalise(value, path ? `${path}.${key}` : key, attributes)]));
  }
  throw invalid('The filter could not be read.');
}

/** Lower-cases, in a copy of `value`, the strings at the case-insensitive attribute paths. */
function lowerCopy(value: unknown, path: string, attributes: FilterAttributes): unknown {
  if (Array.isArray(value)) return value.map((v) => lowerCopy(v, path, attributes));
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, lowerCopy(v, path ? `${path}.${key}` : key, attributes)]));
  }
  const known = attributes[path.toLowerCase()];
  return typeof value === 'string' && known && !known.caseExact ? value.toLowerCase() : value;
}

/** The resources that match a parsed SCIM filter. */
export function matchFilter<T extends object>(filter: InstanceType<typeof SCIMMY.Types.Filter>, resources: T[], attributes: FilterAttributes): T[] {
  const expression = (filter as unknown as object[]).map((branch) => normalise(branch, '', attributes));
  const copies = new Map<object, T>();
  for (const r of resources) copies.set(lowerCopy(r, '', attributes) as object, r);
  const matcher = new SCIMMY.Types.Filter(expression);
  return matcher.match([...copies.keys()] as never[]).map((c) => copies.get(c as object)!);
}

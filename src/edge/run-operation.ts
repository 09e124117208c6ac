/**
 * The one path every transport runs a GraphQL operation through: GraphQL over HTTP (Apollo) and
 * over graphql-ws, the REST route table, its event streams, /v1/chat and the task WebSocket.
 *  1. the context: the request id, the client address and the principal its credential
 *     authenticates (on a long-lived socket, each operation authenticates again, so a revoked
 *     key or ended session stops at the next one);
 *  2. admission: the operation's cost computed from its document and variables (each field's
 *     `extensions.cost`, the only place costs are declared), checked against the caller's
 *     ceilings and admitted by the limiter, per credential or per client address without one.
 *     Variables that do not fit their types are refused by execution before any resolver runs:
 *     such an operation is not charged;
 *  3. execute or subscribe, with `Idempotency-Key` as the operation's `$idempotencyKey`;
 *  4. errors as AppErrors (the error envelope's codes), in one place (./errors.ts); an admitted
 *     operation refused before it did any work (invalid input, a missing resource: see
 *     `isCharged`) is refunded. The context's `limits` keep where the caller's limits stand for
 *     the answer (its headers: ./limit-headers.ts).
 */
import type { IncomingHttpHeaders } from 'node:http';
import {
  execute,
  getOperationAST,
  getVariableValues,
  Kind,
  parse,
  subscribe,
  validate,
  type DocumentNode,
  type ExecutionResult,
  type FragmentDefinitionNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import { buildContext, contextFor, type GraphQLContext } from '../context.js';
import { checkShape, operationCost, type OperationCost, type Pricing, type ShapeLimits } from '../graphql/cost.js';
import { accessFacts } from '../logger.js';
import { limitOf, metrics, observeOperation, operationLabel, transportOf } from '../metrics.js';
import type { LiveConnection } from '../services/auth/live-connections.js';
import type { ServiceDeps } from '../services/deps.js';
import { AppError } from '../errors.js';
import { isCharged, limitsOfError, type Admission } from '../services/limits/limiter.js';
import { inOperationSpan } from '../tracing.js';
import { operationError, type OperationErrorOptions } from './errors.js';

/** One operation of a document, with its variables. */
export interface Operation {
  document: DocumentNode;
  operation: OperationDefinitionNode;
  variables: Record<string, unknown>;
}

/** The request an operation arrives with. */
export interface EdgeRequest {
  requestId?: string;
  headers: IncomingHttpHeaders;
  ip: string | null;
  /** A WebSocket's `token` query parameter (browsers cannot set headers on a WebSocket). */
  queryToken?: string | null;
}

/** What the limiter admitted: release it when the operation ends. */
export interface Admitted {
  admission: Admission;
  cost: OperationCost;
}

export interface ExecuteOptions extends OperationErrorOptions {
  /** Receives the X-RateLimit-* headers once admitted, for the answer whatever it turns out to be. */
  onAdmitted?(headers: Record<string, string>): void;
  /** `request` for the route table's transports (REST, chat, the task WebSocket): see Pricing. */
  pricing?: Pricing;
}

/** An executed operation: its data, the X-RateLimit-* headers and whether a mutation replayed an earlier request. */
export interface Executed {
  data: Record<string, unknown>;
  headers: Record<string, string>;
  replayed: boolean;
}

/** A started subscription: its results, the X-RateLimit-* headers, and the release of its concurrency slot when it holds one. */
export interface Subscribed {
  events: AsyncGenerator<ExecutionResult>;
  headers: Record<string, string>;
  release(): Promise<void>;
}

export function fragmentsOf(document: DocumentNode): Record<string, FragmentDefinitionNode> {
  const fragments: Record<string, FragmentDefinitionNode> = {};
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments[d.name.value] = d;
  return fragments;
}

/** Parses and validates a route's document at start-up; a broken one, or one over the shape limits, stops it. */
export function compileDocument(schema: GraphQLSchema, source: string | DocumentNode, label: string, shape: ShapeLimits): DocumentNode {
  const document = typeof source === 'string' ? parse(source) : source;
  const errors = validate(schema, document);
  if (errors.length) throw new Error(`${label}: invalid GraphQL document: ${errors[0].message}`);
  try {
    checkShape(operationCost(schema, getOperationAST(document)!, fragmentsOf(document)), shape);
  } catch (err) {
    throw new Error(`${label}: ${(err as Error).message}`, { cause: err });
  }
  return document;
}

/**
 * The operation of a compiled document with its variables; an `Idempotency-Key` header becomes
 * `$idempotencyKey` where the operation declares it and the variables leave it unset.
 */
export function operationOf(document: DocumentNode, variables: Record<string, unknown>, headers?: IncomingHttpHeaders, operationName?: string): Operation {
  const operation = getOperationAST(document, operationName);
  if (!operation) throw new Error('The document has no operation to run.');
  return { document, operation, variables: withIdempotencyKey(operation, variables, headers) };
}

function withIdempotencyKey(operation: OperationDefinitionNode, variables: Record<string, unknown>, headers?: IncomingHttpHeaders): Record<string, unknown> {
  const key = headers?.['idempotency-key'];
  if (typeof key !== 'string' || variables.idempotencyKey != null) return variables;
  const declared = operation.variableDefinitions?.some((d) => d.variable.name.value === 'idempotencyKey');
  return declared ? { ...variables, idempotencyKey: key } : variables;
}

/** Whether a mutation answered from an earlier request with the same Idempotency-Key: its payload's `replayed`. */
function replayedOf(data: Record<string, unknown> | null | undefined): boolean {
  return Object.values(data ?? {}).some((v) => typeof v === 'object' && v !== null && (v as { replayed?: unknown }).replayed === true);
}

/**
 * Whether the variables fit their declared types. A bad one (a number past what Int holds) is
 * refused by execution before any resolver runs, so it costs nothing; its size must not be
 * priced either (`first: 99999999999` is a validation error, not a query too expensive to run).
 */
function variablesFit(schema: GraphQLSchema, operation: OperationDefinitionNode, variables: Record<string, unknown>): boolean {
  return !('errors' in getVariableValues(schema, operation.variableDefinitions ?? [], variables, { maxErrors: 1 }));
}

export class OperationRunner {
  constructor(
    readonly schema: GraphQLSchema,
    readonly deps: ServiceDeps,
  ) {}

  /** Authenticates the request when it carries a credential (401 when that credential is bad) and returns its context. */
  async context(request: EdgeRequest): Promise<GraphQLContext> {
    const context = await buildContext(this.deps, request);
    accessFacts.note(context.requestId, { accountId: context.principal?.userId });
    return context;
  }

  /**
   * The context of one operation on a live connection (a socket): its credential is checked again
   * first, so a revoked key or ended session is refused (and the connection ended).
   */
  async liveContext(connection: LiveConnection, request: EdgeRequest, credential?: string): Promise<GraphQLContext> {
    const principal = credential ? await connection.authenticate(credential) : await connection.reauthenticate();
    return contextFor(this.deps, { ...request, ip: connection.ip }, principal);
  }

  /**
   * Costs the operation and admits it for its caller (per credential, or per address without
   * one), or throws the refusal (429, 402, or 400 over a ceiling) as an AppError. Null when
   * execution refuses it anyway (variables that do not fit their types): nothing is charged.
   * `endpoint` is what the usage ledger records it under.
   */
  async admit(caller: Pick<GraphQLContext, 'principal' | 'ip' | 'limits'> & { requestId?: string }, op: Operation, endpoint: string, pricing: Pricing = 'selection'): Promise<Admitted | null> {
    const transport = transportOf(endpoint);
    accessFacts.note(caller.requestId, { accountId: caller.principal?.userId, operation: op.operation.name?.value ?? op.operation.operation, operationType: op.operation.operation });
    if (!variablesFit(this.schema, op.operation, op.variables)) return null;
    const cost = operationCost(this.schema, op.operation, fragmentsOf(op.document), op.variables, pricing);
    const { limiter } = this.deps;
    let admission: Admission;
    try {
      await limiter.checkQuery(caller.principal, cost);
      admission = caller.principal
        ? await limiter.admit(caller.principal, cost.cost, endpoint, cost.rateCost)
        : await limiter.admitAddress(caller.ip, cost.rateCost);
    } catch (err) {
      const limit = limitOf(err);
      if (limit) metrics.limitRejections.inc({ limit, transport });
      caller.limits = limitsOfError(err) ?? caller.limits;
      throw err;
    }
    caller.limits = admission.state;
    accessFacts.note(caller.requestId, { cost: cost.cost });
    metrics.costCharged.inc({ transport, operation: operationLabel(this.schema, op.operation), type: op.operation.operation }, cost.cost);
    return { admission, cost };
  }

  /**
   * After an admitted operation was refused with `err`: refunds it when the refusal came before
   * any work (see isCharged), so that it costs nothing and its answer reports the limits after.
   * Callers without a credential stay charged.
   */
  async settle(caller: Pick<GraphQLContext, 'principal' | 'limits'>, admitted: Admitted | null, err: unknown): Promise<void> {
    if (!admitted || !caller.principal || !(err instanceof AppError) || isCharged((err as AppError).code)) return;
    caller.limits = (await admitted.admission.refund()) ?? caller.limits;
  }

  /** Counts a route-table operation (REST, chat, the task WebSocket) with its outcome and duration; GraphQL over HTTP counts its own. */
  private observe(endpoint: string, op: Operation, started: number, error?: unknown): void {
    observeOperation(transportOf(endpoint), this.schema, op.operation, started, error === undefined ? undefined : (error as { code?: unknown }));
  }

  /** Admits and executes a query or mutation (a span when tracing is on); its first error is thrown as an AppError. */
  execute(context: GraphQLContext, op: Operation, endpoint: string, options: ExecuteOptions = {}): Promise<Executed> {
    return inOperationSpan(op.operation, () => this.executeObserved(context, op, endpoint, options));
  }

  private async executeObserved(context: GraphQLContext, op: Operation, endpoint: string, options: ExecuteOptions): Promise<Executed> {
    const started = performance.now();
    try {
      const executed = await this.executeAdmitted(context, op, endpoint, options);
      this.observe(endpoint, op, started);
      return executed;
    } catch (err) {
      this.observe(endpoint, op, started, err);
      throw err;
    }
  }

  private async executeAdmitted(context: GraphQLContext, op: Operation, endpoint: string, options: ExecuteOptions): Promise<Executed> {
    const admitted = await this.admit(context, op, endpoint, options.pricing);
    if (admitted) options.onAdmitted?.(admitted.admission.headers);
    let result: ExecutionResult;
    try {
      result = await execute({ schema: this.schema, document: op.document, contextValue: context, variableValues: op.variables });
    } finally {
      await admitted?.admission.release();
    }
    if (result.errors?.length) {
      const err = operationError(result.errors[0], options);
      await this.settle(context, admitted, err);
      throw err;
    }
    return { data: result.data ?? {}, headers: admitted?.admission.headers ?? {}, replayed: replayedOf(result.data) };
  }

  /**
   * Subscribes to an already admitted operation (a REST route's event stream, charged with the
   * request that opened it); a refusal before the first event is thrown as an AppError.
   */
  async subscribeAdmitted(context: GraphQLContext, op: Operation, errors: OperationErrorOptions = {}): Promise<AsyncGenerator<ExecutionResult>> {
    const stream = await subscribe({ schema: this.schema, document: op.document, contextValue: context, variableValues: op.variables });
    if (Symbol.asyncIterator in stream) return stream;
    const err = stream.errors?.[0];
    throw err ? operationError(err, errors) : new Error('The subscription answered neither events nor errors.');
  }

  /**
   * Admits and starts a subscription. It is charged once, when it starts; with `holdSlot` it keeps
   * its concurrency slot until `release` (a model call streaming its answer), otherwise the slot
   * is given back at once (a stream of events is open for long and mostly idle).
   */
  subscribe(context: GraphQLContext, op: Operation, endpoint: string, options: OperationErrorOptions & { holdSlot?: boolean; pricing?: Pricing } = {}): Promise<Subscribed> {
    return inOperationSpan(op.operation, () => this.subscribeNow(context, op, endpoint, options));
  }

  private async subscribeNow(context: GraphQLContext, op: Operation, endpoint: string, options: OperationErrorOptions & { holdSlot?: boolean; pricing?: Pricing }): Promise<Subscribed> {
    const admitted = await this.admit(context, op, endpoint, options.pricing);
    let released = false;
    const release = async () => {
      if (released) return;
      released = true;
      await admitted?.admission.release();
    };
    const started = performance.now();
    try {
      const events = await this.subscribeAdmitted(context, op, options);
      if (!options.holdSlot) await release();
      this.observe(endpoint, op, started);
      return { events, headers: admitted?.admission.headers ?? {}, release };
    } catch (err) {
      await release();
      this.observe(endpoint, op, started, err);
      await this.settle(context, admitted, err);
      throw err;
    }
  }
}

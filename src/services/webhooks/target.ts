/**
 * Webhook targets are untrusted: only https (plain http when WEBHOOK_ALLOW_HTTP), only public
 * addresses (private, loopback, link-local, metadata and other special ranges only inside
 * WEBHOOK_ALLOWED_PRIVATE_CIDRS). Connections are kept alive and reused between attempts; each new
 * connection resolves the host and checks every address in its own lookup, and connects to the
 * address it checked, so DNS rebinding between check and connect cannot reach another host (an
 * address written in the URL is checked before each attempt). Redirects are never followed; the
 * answer has a time limit and only its first bytes are read.
 */
import { isIP } from 'node:net';
import { Agent, request } from 'undici';
import type { Config } from '../../config.js';
import { HOST_NOT_ALLOWED, HostNotAllowedError, inRanges, nonPublicReason, resolveAllowedHost } from '../../net/addresses.js';

type Policy = Pick<Config, 'WEBHOOK_ALLOW_HTTP' | 'WEBHOOK_ALLOWED_PRIVATE_CIDRS'>;

/** Why a URL cannot be a webhook target (scheme, credentials, form), or null. Addresses are checked by `checkHost`. */
export function urlProblem(raw: string, policy: Policy): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be an absolute URL such as https://example.com/webhooks';
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy.WEBHOOK_ALLOW_HTTP)) {
    return policy.WEBHOOK_ALLOW_HTTP ? 'must start with https:// or http://' : 'must start with https:// (plain http is not allowed on this server)';
  }
  if (url.username || url.password) return 'must not contain a user name or password; use the signing secret to authenticate deliveries';
  if (raw.length > 2048) return 'must be at most 2,048 characters';
  return null;
}

/** Why an address may not be contacted, or null when it is public or inside the operator's allowance. */
export function addressProblem(address: string, policy: Policy): string | null {
  return inRanges(address, policy.WEBHOOK_ALLOWED_PRIVATE_CIDRS) ? null : nonPublicReason(address);
}

/** A refused target: the reason is stored on the attempt and shown to the caller. */
export class TargetRefused extends Error {}

/** Resolves `host` and checks every address; returns the addresses to connect to. */
async function allowedAddresses(host: string, policy: Policy): Promise<Array<{ address: string; family: number }>> {
  try {
    return await resolveAllowedHost(host, (address) => addressProblem(address, policy) === null);
  } catch (err) {
    if (err instanceof HostNotAllowedError) throw new TargetRefused(`The URL ${HOST_NOT_ALLOWED}.`);
    throw err;
  }
}

/** Resolves the URL's host and checks every address; returns the addresses to connect to. */
export async function checkHost(raw: string, policy: Policy): Promise<Array<{ address: string; family: number }>> {
  const problem = urlProblem(raw, policy);
  if (problem) throw new TargetRefused(`The URL ${problem}.`);
  return allowedAddresses(new URL(raw).hostname, policy);
}

type TargetConfig = Policy & Pick<Config, 'WEBHOOK_TIMEOUT_MS' | 'WEBHOOK_RESPONSE_MAX_BYTES' | 'WEBHOOK_RESPONSE_STORE_BYTES'>;

/** One keep-alive connection pool per policy and time limit (settings differ only between test systems). */
const agents = new Map<string, Agent>();

function agentFor(config: TargetConfig): Agent {
  const key = JSON.stringify([config.WEBHOOK_ALLOWED_PRIVATE_CIDRS, config.WEBHOOK_TIMEOUT_MS]);
  let agent = agents.get(key);
  if (!agent) {
    agent = new Agent({
      connect: {
        // Every new connection goes to an address checked here, whatever DNS answered before.
        lookup: ((host: string, options: { all?: boolean }, cb: (...args: unknown[]) => void) => {
          allowedAddresses(host, config).then(
            (addresses) => (options?.all ? cb(null, addresses) : cb(null, addresses[0].address, addresses[0].family)),
            (err: unknown) => cb(err),
          );
        }) as never,
        timeout: config.WEBHOOK_TIMEOUT_MS,
      },
      headersTimeout: config.WEBHOOK_TIMEOUT_MS,
      bodyTimeout: config.WEBHOOK_TIMEOUT_MS,
    });
    agents.set(key, agent);
  }
  return agent;
}

/** The refusal behind a failed request, if the connection's lookup refused the host. */
function refusalOf(err: unknown): TargetRefused | null {
  for (let e = err; e instanceof Error; e = e.cause) if (e instanceof TargetRefused) return e;
  return null;
}

export interface HttpOutcome {
  statusCode: number | null;
  /** The first WEBHOOK_RESPONSE_STORE_BYTES of the answer, as text. */
  body: string | null;
  latencyMs: number;
  /** Why the attempt failed without an acceptable answer; null for a 2xx. */
  error: string | null;
  succeeded: boolean;
}

/** POSTs `body` to `url` after checking its addresses; never throws for the target's behaviour. */
export async function postToTarget(
  url: string,
  headers: Record<string, string>,
  body: string,
  config: TargetConfig,
): Promise<HttpOutcome> {
  const started = performance.now();
  const took = () => Math.round(performance.now() - started);
  const refused = (err: TargetRefused): HttpOutcome => ({ statusCode: null, body: null, latencyMs: took(), error: err.message, succeeded: false });
  try {
    // The URL's form, and an address written in it (a connection to one never calls the lookup).
    const problem = urlProblem(url, config);
    if (problem) throw new TargetRefused(`The URL ${problem}.`);
    const host = new URL(url).hostname;
    if (isIP(host.replace(/^\[|\]$/g, ''))) await allowedAddresses(host, config);
  } catch (err) {
    if (err instanceof TargetRefused) return refused(err);
    throw err;
  }
  try {
    const res = await request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'Codex-Webhooks/1', ...headers },
      body,
      dispatcher: agentFor(config),
      signal: AbortSignal.timeout(config.WEBHOOK_TIMEOUT_MS),
    });
    const chunks: Buffer[] = [];
    let read = 0;
    try {
      for await (const chunk of res.body) {
        const buf = chunk as Buffer;
        chunks.push(buf);
        read += buf.length;
        if (read >= config.WEBHOOK_RESPONSE_MAX_BYTES) break; // the rest is never read
      }
    } catch {
      // a body cut short still tells us the status
    } finally {
      res.body.destroy();
    }
    const text = Buffer.concat(chunks).subarray(0, config.WEBHOOK_RESPONSE_STORE_BYTES).toString('utf8');
    const status = res.statusCode;
    let error: string | null = null;
    if (status >= 300 && status < 400) {
      const location = res.headers.location;
      error = `The endpoint answered ${status} with a redirect${location ? ` to ${String(location)}` : ''}; redirects are not followed: register the final URL.`;
    } else if (status < 200 || status >= 300) error = `The endpoint answered ${status}.`;
    return { statusCode: status, body: text, latencyMs: took(), error, succeeded: error === null };
  } catch (err) {
    const refusal = refusalOf(err);
    if (refusal) return refused(refusal);
    const e = err as Error & { code?: string };
    const why =
      e.name === 'TimeoutError' || e.name === 'AbortError' || /timeout/i.test(e.code ?? '')
        ? `No answer within ${config.WEBHOOK_TIMEOUT_MS} ms.`
        : `Could not connect: ${e.code ?? 'connection error'}.`; // the code only: messages name the address it resolved to
    return { statusCode: null, body: null, latencyMs: took(), error: why, succeeded: false };
  }
}

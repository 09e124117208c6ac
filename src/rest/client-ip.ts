/** The client's address behind trusted proxies (proxy-addr, as Fastify uses), and URLs fit for logs. */
import type { IncomingMessage } from 'node:http';
import proxyaddr from 'proxy-addr';

type Trust = (addr: string, hop: number) => boolean;

/**
 * TRUST_PROXY as a proxy-addr trust function (also given to Fastify): unset or "false" → trust no
 * proxy, "true" → every hop, a number → that many hops, else a comma-separated list of addresses,
 * CIDRs or proxy-addr names (loopback, linklocal, uniquelocal).
 */
export function trustProxySetting(value: string | undefined): Trust {
  if (!value || value === 'false') return () => false;
  if (value === 'true') return () => true;
  if (/^\d+$/.test(value)) return (_addr, hop) => hop < Number(value);
  return proxyaddr.compile(value.split(',').map((s) => s.trim()));
}

/** The client address of a raw request (WebSocket upgrades), by the same rule as Fastify's request.ip. */
export function clientIp(request: IncomingMessage, trustProxy: string | undefined): string | null {
  return proxyaddr(request, trustProxySetting(trustProxy)) || null;
}

/** A URL with the values of credential-bearing query parameters blanked. */
export function redactUrl(url: string): string {
  return url.replace(/([?&](?:token|api_key|access_token|key)=)[^&#]*/gi, '$1[redacted]');
}

/** Webhook target rules and the signature scheme, as pure functions (the integration test covers them end to end). */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { addressProblem, urlProblem } from '../../src/services/webhooks/target.js';
import { decryptSecret, encryptSecret, generateSecret, secretProblem, signedHeaders } from '../../src/services/webhooks/secrets.js';

const strict = loadConfig({});

describe('webhook targets', () => {
  it('accepts only https unless plain http is allowed', () => {
    expect(urlProblem('https://hooks.example.com/x', strict)).toBeNull();
    expect(urlProblem('http://hooks.example.com/x', strict)).toMatch(/must start with https:\/\/ \(plain http is not allowed/);
    expect(urlProblem('http://hooks.example.com/x', loadConfig({ WEBHOOK_ALLOW_HTTP: 'true' }))).toBeNull();
    expect(urlProblem('gopher://x', strict)).toMatch(/https/);
  });

  it.each([
    ['127.0.0.1', /loopback/],
    ['::1', /loopback/],
    ['::ffff:127.0.0.1', /loopback/],
    ['10.1.2.3', /private network/],
    ['172.16.0.1', /private network/],
    ['192.168.0.1', /private network/],
    ['fd12::1', /private network/],
    ['169.254.169.254', /cloud metadata/],
    ['169.254.1.1', /link-local/],
    ['fe80::1', /link-local/],
    ['0.0.0.0', /unspecified/],
    ['100.64.0.1', /carrier-grade NAT/],
    ['::', /unspecified/],
    ['::7f00:1', /not a global unicast IPv6 address/], // IPv4-compatible ::127.0.0.1
    ['::a9fe:a9fe', /not a global unicast IPv6 address/], // ::169.254.169.254
    ['::ffff:7f00:1', /loopback/],
    ['64:ff9b::7f00:1', /special-purpose|not a global/], // NAT64 of 127.0.0.1
  ])('refuses %s', (address, reason) => {
    expect(addressProblem(address, strict)).toMatch(reason);
  });

  it('accepts public addresses, and private ones inside the operator allowance', () => {
    expect(addressProblem('93.184.216.34', strict)).toBeNull();
    expect(addressProblem('2606:2800:220:1:248:1893:25c8:1946', strict)).toBeNull();
    const allowing = loadConfig({ WEBHOOK_ALLOWED_PRIVATE_CIDRS: '10.20.0.0/16' });
    expect(addressProblem('10.20.3.4', allowing)).toBeNull();
    expect(addressProblem('10.21.3.4', allowing)).toMatch(/private/);
    expect(() => loadConfig({ WEBHOOK_ALLOWED_PRIVATE_CIDRS: '10.20.0.0/99' })).toThrow(/WEBHOOK_ALLOWED_PRIVATE_CIDRS must be CIDR ranges/);
    expect(() => loadConfig({ WEBHOOK_RETRY_SCHEDULE: '60,soon' })).toThrow(/WEBHOOK_RETRY_SCHEDULE/);
  });
});

describe('webhook secrets and signatures', () => {
  it('signs id.timestamp.body with HMAC-SHA256 of the decoded secret, once per valid secret', () => {
    const a = generateSecret();
    const b = generateSecret();
    const h = signedHeaders([a, b], 'evt_1', 1700000000, '{"x":1}');
    const expected = (s: string) => 'v1,' + createHmac('sha256', Buffer.from(s.slice(6), 'base64')).update('evt_1.1700000000.{"x":1}').digest('base64');
    expect(h).toEqual({ 'webhook-id': 'evt_1', 'webhook-timestamp': '1700000000', 'webhook-signature': `${expected(a)} ${expected(b)}` });
  });

  it('stores secrets encrypted and checks the whsec_ form', () => {
    const config = loadConfig({ WEBHOOK_SECRET_KEY: 'an operator passphrase of some length' });
    const s = generateSecret();
    const stored = encryptSecret(config, s);
    expect(stored).not.toContain(s.slice(6));
    expect(decryptSecret(config, stored)).toBe(s);
    expect(() => decryptSecret(loadConfig({ WEBHOOK_SECRET_KEY: 'another passphrase entirely' }), stored)).toThrow();
    expect(secretProblem(s)).toBeNull();
    expect(secretProblem('hunter2')).toMatch(/whsec_/);
    expect(secretProblem('whsec_c2hvcnQ=')).toMatch(/16 to 64 bytes/);
  });
});

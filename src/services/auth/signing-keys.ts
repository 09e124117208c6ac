/**
 * The key pairs that sign our access tokens (ES256 or RS256, JWT_ALGORITHM). The newest key that is not superseded signs;
 * every key that is not retired verifies and is published as a JWKS, so rotating the signing key
 * logs nobody out: tokens signed by the previous key stay valid until they expire, then
 * `retireSupersededKeys` drops it. Keys live in the database so every replica signs and verifies
 * with the same set; each process reloads them when it meets an unknown `kid` and every minute.
 * Each key keeps the algorithm it was made with, so after a change of JWT_ALGORITHM the new
 * algorithm's key signs and the old one verifies until it is retired.
 */
import { randomUUID } from 'node:crypto';
import { exportJWK, exportPKCS8, generateKeyPair, importJWK, importPKCS8, SignJWT, jwtVerify, type JWK, type JWTPayload } from 'jose';
import type { Db } from '../../db/client.js';

/** The algorithms a signing key may use. */
export const SIGNING_ALGORITHMS = ['ES256', 'RS256'] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];
const RELOAD_MS = 60_000;

type CryptoKey = Awaited<ReturnType<typeof importPKCS8>>;

interface LoadedKey {
  kid: string;
  alg: SigningAlgorithm;
  publicJwk: JWK;
  publicKey: CryptoKey;
  privateKey: CryptoKey | null;
  signing: boolean;
}

type VerifyKey = Awaited<ReturnType<typeof importPKCS8>>;

export class SigningKeys {
  private keys = new Map<string, LoadedKey>();
  private loadedAt = 0;
  private loading: Promise<void> | null = null;

  constructor(
    private readonly db: Db,
    /** The algorithm new keys use (JWT_ALGORITHM). */
    readonly algorithm: SigningAlgorithm = 'ES256',
  ) {}

  /**
   * Makes sure a signing key of the configured algorithm signs (first start, or JWT_ALGORITHM
   * changed: a new key takes over and the old one keeps verifying) and loads the set.
   */
  async init(): Promise<void> {
    const signer = await this.db.signingKey.findFirst({ where: { supersededAt: null, retiredAt: null }, orderBy: { createdAt: 'desc' }, select: { algorithm: true } });
    if (signer?.algorithm !== this.algorithm) await createSigningKey(this.db, this.algorithm);
    await this.reload();
  }

  private reload(): Promise<void> {
    this.loading ??= (async () => {
      try {
        const rows = await this.db.signingKey.findMany({ where: { retiredAt: null }, orderBy: { createdAt: 'desc' } });
        const next = new Map<string, LoadedKey>();
        const signer = rows.find((r) => !r.supersededAt);
        for (const row of rows) {
          const jwk = row.publicJwk as JWK;
          const alg = row.algorithm as SigningAlgorithm;
          if (!SIGNING_ALGORITHMS.includes(alg)) continue; // not one we sign with: it verifies nothing
          next.set(row.id, {
            kid: row.id,
            alg,
            publicJwk: jwk,
            publicKey: (await importJWK(jwk, alg)) as CryptoKey,
            privateKey: row === signer ? await importPKCS8(row.privateKeyPem, alg) : null,
            signing: row === signer,
          });
        }
        this.keys = next;
        this.loadedAt = Date.now();
      } finally {
        this.loading = null;
      }
    })();
    return this.loading;
  }

  private async fresh(): Promise<void> {
    if (Date.now() - this.loadedAt > RELOAD_MS) await this.reload();
  }

  /** Signs a token with the current key. */
  async sign(claims: JWTPayload, options: { issuer: string; audience: string; subject: string; ttlSeconds: number; type: string }): Promise<string> {
    await this.fresh();
    let signer = [...this.keys.values()].find((k) => k.signing);
    if (!signer) {
      await this.reload();
      signer = [...this.keys.values()].find((k) => k.signing);
      if (!signer) throw new Error('No signing key: run `npm run admin -- signing-key rotate`.');
    }
    return new SignJWT(claims)
      .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: options.type })
      .setIssuer(options.issuer)
      .setAudience(options.audience)
      .setSubject(options.subject)
      .setIssuedAt()
      .setJti(randomUUID())
      .setExpirationTime(`${options.ttlSeconds}s`)
      .sign(signer.privateKey!);
  }

  /** Verifies signature, issuer, audience, expiry and not-before; throws on any failure. */
  async verify(token: string, options: { issuer: string; audience: string; type: string }): Promise<JWTPayload> {
    await this.fresh();
    const { payload } = await jwtVerify(token, (header) => this.keyFor(header.kid, header.alg), {
      algorithms: [...SIGNING_ALGORITHMS],
      issuer: options.issuer,
      audience: options.audience,
      typ: options.type,
      requiredClaims: ['exp', 'iat', 'sub', 'jti'],
    });
    return payload;
  }

  private async keyFor(kid: string | undefined, alg: string | undefined): Promise<VerifyKey> {
    if (!kid) throw new Error('token has no kid');
    let key = this.keys.get(kid);
    if (!key && Date.now() - this.loadedAt > 1000) {
      await this.reload();
      key = this.keys.get(kid);
    }
    if (!key) throw new Error('unknown kid');
    // A key verifies only tokens of its own algorithm (no RS256/ES256 confusion).
    if (key.alg !== alg) throw new Error('algorithm does not match the key');
    return key.publicKey;
  }

  /** The public keys as a JWKS document. */
  async jwks(): Promise<{ keys: JWK[] }> {
    await this.fresh();
    return { keys: [...this.keys.values()].map((k) => ({ ...k.publicJwk, kid: k.kid, alg: k.alg, use: 'sig' })) };
  }
}

/** Adds a new key pair of `algorithm` and makes it the signer; the previous signer keeps verifying. */
export async function createSigningKey(db: Db, algorithm: SigningAlgorithm): Promise<string> {
  const { publicKey, privateKey } = await generateKeyPair(algorithm, { extractable: true, ...(algorithm === 'RS256' ? { modulusLength: 2048 } : {}) });
  const id = `sig_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
  await db.$transaction([
    db.signingKey.updateMany({ where: { supersededAt: null }, data: { supersededAt: new Date() } }),
    db.signingKey.create({
      data: {
        id,
        algorithm,
        publicJwk: (await exportJWK(publicKey)),
        privateKeyPem: await exportPKCS8(privateKey),
      },
    }),
  ]);
  return id;
}

/** Retires keys superseded more than `afterSeconds` ago (the longest token lifetime): they verify nothing still valid. */
export async function retireSupersededKeys(db: Db, afterSeconds: number): Promise<number> {
  const { count } = await db.signingKey.updateMany({
    where: { retiredAt: null, supersededAt: { lt: new Date(Date.now() - afterSeconds * 1000) } },
    data: { retiredAt: new Date() },
  });
  return count;
}

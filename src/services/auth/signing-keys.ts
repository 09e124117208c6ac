/**
 * The key pairs that sign our access tokens (ES256). The newest key that is not superseded signs;
 * every key that is not retired verifies and is published as a JWKS, so rotating the signing key
 * logs nobody out: tokens signed by the previous key stay valid until they expire, then
 * `retireSupersededKeys` drops it. Keys live in the database so every replica signs and verifies
 * with the same set; each process reloads them when it meets an unknown `kid` and every minute.
 */
import { randomUUID } from 'node:crypto';
import { exportJWK, exportPKCS8, generateKeyPair, importJWK, importPKCS8, SignJWT, jwtVerify, type JWK, type JWTPayload } from 'jose';
import type { Db } from '../../db/client.js';

export const SIGNING_ALGORITHM = 'ES256';
const RELOAD_MS = 60_000;

type CryptoKey = Awaited<ReturnType<typeof importPKCS8>>;

interface LoadedKey {
  kid: string;
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

  constructor(private readonly db: Db) {}

  /** Makes sure a signing key exists (first start) and loads the set. */
  async init(): Promise<void> {
    if ((await this.db.signingKey.count({ where: { supersededAt: null, retiredAt: null } })) === 0) await createSigningKey(this.db);
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
          next.set(row.id, {
            kid: row.id,
            publicJwk: jwk,
            publicKey: (await importJWK(jwk, SIGNING_ALGORITHM)) as CryptoKey,
            privateKey: row === signer ? await importPKCS8(row.privateKeyPem, SIGNING_ALGORITHM) : null,
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
      .setProtectedHeader({ alg: SIGNING_ALGORITHM, kid: signer.kid, typ: options.type })
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
    const { payload } = await jwtVerify(token, (header) => this.keyFor(header.kid), {
      algorithms: [SIGNING_ALGORITHM],
      issuer: options.issuer,
      audience: options.audience,
      typ: options.type,
      requiredClaims: ['exp', 'iat', 'sub', 'jti'],
    });
    return payload;
  }

  private async keyFor(kid: string | undefined): Promise<VerifyKey> {
    if (!kid) throw new Error('token has no kid');
    let key = this.keys.get(kid);
    if (!key && Date.now() - this.loadedAt > 1000) {
      await this.reload();
      key = this.keys.get(kid);
    }
    if (!key) throw new Error('unknown kid');
    return key.publicKey;
  }

  /** The public keys as a JWKS document. */
  async jwks(): Promise<{ keys: JWK[] }> {
    await this.fresh();
    return { keys: [...this.keys.values()].map((k) => ({ ...k.publicJwk, kid: k.kid, alg: SIGNING_ALGORITHM, use: 'sig' })) };
  }
}

/** Adds a new key pair and makes it the signer; the previous signer keeps verifying. */
export async function createSigningKey(db: Db): Promise<string> {
  const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALGORITHM, { extractable: true });
  const id = `sig_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
  await db.$transaction([
    db.signingKey.updateMany({ where: { supersededAt: null }, data: { supersededAt: new Date() } }),
    db.signingKey.create({
      data: {
        id,
        algorithm: SIGNING_ALGORITHM,
        publicJwk: (await exportJWK(publicKey)) as object,
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

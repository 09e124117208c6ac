/** /v1/auth: sign in, sign up, refresh and end sessions, and the signed-in account. */
import { z } from 'zod';
import { graphql, type ResultOf } from '../graphql.js';
import { defineRoute, idempotencyKey, oneOf } from '../route.js';

const AuthTokens = graphql(`fragment RestTokens on AuthTokens { accessToken tokenType expiresIn refreshToken }`);

const TokensJson = z.object({
  access_token: z.string(),
  token_type: z.literal('Bearer'),
  expires_in: z.number().int(),
  refresh_token: z.string(),
});
/** Token responses must not be stored by browsers or proxies (RFC 6749 §5.1). */
const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };
const tokensJson = (t: ResultOf<typeof AuthTokens>): z.input<typeof TokensJson> => ({ access_token: t.accessToken, token_type: oneOf(['Bearer'], t.tokenType), expires_in: t.expiresIn, refresh_token: t.refreshToken });

/** Tokens are handed out once per Idempotency-Key (see issueOnce): a repeat is 409, never the tokens again. */
const ISSUED_ONCE = 'With an Idempotency-Key, tokens are issued once: a repeat with the same key (whatever its body) runs nothing and answers 409 idempotency_conflict; it never answers the tokens again.';

const Credentials = z.object({ email: z.string().describe('The e-mail of the account.'), password: z.string() }).strict();

export const authRoutes = [
  defineRoute({
    method: 'POST',
    path: '/v1/auth/login',
    headers: NO_STORE,
    operationId: 'login',
    public: true,
    summary: 'Sign in with e-mail and password (no credential needed)',
    description: ISSUED_ONCE,
    idempotent: true,
    tag: 'Auth',
    successStatus: 200,
    body: Credentials,
    response: TokensJson,
    errors: ['rate_limit_exceeded'],
    document: graphql(`mutation Login($input: LoginInput!, $idempotencyKey: String) { login(input: $input, idempotencyKey: $idempotencyKey) { ...RestTokens } }`, [AuthTokens]),
    variables: ({ body, headers }) => ({ input: body, idempotencyKey: idempotencyKey(headers) }),
    reply: (data) => tokensJson(data.login),
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/auth/signup',
    headers: NO_STORE,
    operationId: 'signup',
    public: true,
    summary: 'Create an account and sign in (only when the server sets ALLOW_SIGNUP=true)',
    description: ISSUED_ONCE,
    idempotent: true,
    tag: 'Auth',
    successStatus: 201,
    body: Credentials.extend({ name: z.string().optional() }).strict(),
    response: TokensJson,
    errors: ['email_taken', 'rate_limit_exceeded'],
    document: graphql(`mutation Signup($input: SignupInput!, $idempotencyKey: String) { signup(input: $input, idempotencyKey: $idempotencyKey) { ...RestTokens } }`, [AuthTokens]),
    variables: ({ body, headers }) => ({ input: body, idempotencyKey: idempotencyKey(headers) }),
    reply: (data) => tokensJson(data.signup),
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/auth/refresh',
    headers: NO_STORE,
    operationId: 'refreshSession',
    public: true,
    summary: 'Exchange a refresh token (single use; a reused one ends the session) for new tokens',
    description: ISSUED_ONCE,
    idempotent: true,
    tag: 'Auth',
    successStatus: 200,
    body: z.object({ refresh_token: z.string() }).strict(),
    response: TokensJson,
    document: graphql(`mutation RefreshSession($refreshToken: String!, $idempotencyKey: String) { refreshSession(refreshToken: $refreshToken, idempotencyKey: $idempotencyKey) { ...RestTokens } }`, [AuthTokens]),
    variables: ({ body, headers }) => ({ refreshToken: body.refresh_token, idempotencyKey: idempotencyKey(headers) }),
    reply: (data) => tokensJson(data.refreshSession),
  }),
  defineRoute({
    method: 'POST',
    path: '/v1/auth/logout',
    operationId: 'logout',
    summary: 'End the current session; its access token stops working at once',
    description: 'With an Idempotency-Key like every POST; a repeat cannot authenticate (the session has ended) and answers 401.',
    idempotent: true,
    tag: 'Auth',
    successStatus: 200,
    response: z.object({ success: z.boolean(), message: z.string() }),
    document: graphql(`mutation Logout($idempotencyKey: String) { logout(idempotencyKey: $idempotencyKey) { success message } }`),
    variables: ({ headers }) => ({ idempotencyKey: idempotencyKey(headers) }),
    reply: (data) => data.logout,
  }),
  defineRoute({
    method: 'GET',
    path: '/v1/auth/me',
    operationId: 'getMe',
    summary: 'The signed-in account',
    tag: 'Auth',
    successStatus: 200,
    response: z.object({
      id: z.string(),
      email: z.string().nullable(),
      name: z.string(),
      tier: z.string(),
      subscription: z
        .object({ id: z.string(), status: z.string(), current_period_end: z.iso.datetime(), cancel_at_period_end: z.boolean() })
        .nullable()
        .describe('null on the free plan'),
      usage: z.object({
        requests_this_month: z.number().int(),
        requests_limit: z.number().int(),
        storage_used_bytes: z.number(),
        storage_limit_bytes: z.number(),
      }),
      created_at: z.iso.datetime(),
    }),
    document: graphql(`
  query Me {
    viewer { id email name tier createdAt }
    subscription { subscriptionId status currentPeriodEnd cancelAtPeriodEnd }
    usage { creditsUsed creditsLimit storageUsedBytes storageLimitBytes }
  }
`),
    variables: () => ({}),
    reply: ({ viewer: { createdAt, ...user }, subscription: s, usage: u }) => ({
      ...user,
      subscription: s.subscriptionId
        ? { id: s.subscriptionId, status: s.status, current_period_end: s.currentPeriodEnd, cancel_at_period_end: s.cancelAtPeriodEnd }
        : null,
      usage: {
        requests_this_month: u.creditsUsed,
        requests_limit: u.creditsLimit,
        storage_used_bytes: u.storageUsedBytes,
        storage_limit_bytes: u.storageLimitBytes,
      },
      created_at: createdAt,
    }),
  }),
];

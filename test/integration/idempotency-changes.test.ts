/**
 * idempotencyKey on the updates, deletions, revocations and cancellations (the mutations behind
 * PATCH and DELETE routes), each exercised here: another account's id with a key is
 * RESOURCE_NOT_FOUND and changes nothing; the first call answers replayed: false, a concurrent and
 * a later repeat the same payload with replayed: true and change nothing again (the rows and
 * events a second run would touch stay as they are); other arguments with the key are
 * IDEMPOTENCY_CONFLICT; without a key a repeat behaves as it always did. Over REST, the
 * PATCH and DELETE routes hand Idempotency-Key to the same mutations.
 *
 * No worker runs, so tasks, orchestrations, reviews and visualizations stay queued or in progress
 * (cancellable).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restRoutes } from '../../src/rest/v1/index.js';
import { graphql, restClient } from '../helpers/client.js';
import { executeBody, vulnerableJs } from '../helpers/fixtures.js';
import { buildRepository } from '../helpers/git-fixtures.js';
import { expectIdempotencyConflict, expectRepeatsReplayed } from '../helpers/idempotency.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

let sys: TestSystem;
let root: string;
/** The owner of the visualization whose share links revokeShare ends (analysing a repository is slow; one will do). */
let viz: { owner: Owner; id: string };

let n = 0;
const unique = (what: string) => `${what}-${Date.now()}-${++n}`;
const key = () => unique('key');

type Owner = Awaited<ReturnType<typeof user>>;
async function user() {
  const email = `${unique('u')}@example.com`;
  const created = await sys.createUser('Change', { email });
  return { ...created, email, api: restClient(sys.url, created.apiKey) };
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'idem-changes-'));
  buildRepository(join(root, 'demo'), [{ date: '2024-01-01T00:00:00Z', author: { name: 'A', email: 'a@example.com' }, message: 'Initial', write: { 'a.js': 'export const a = 1;\n' } }]);
  sys = await startTestSystem({
    worker: false,
    env: { REPOSITORY_ROOT: root, WEBHOOK_ALLOW_HTTP: 'true', WEBHOOK_ALLOWED_PRIVATE_CIDRS: '127.0.0.2/32', WEBHOOK_SECRET_KEY: 'test-webhook-encryption-key-0123456789' },
  });
  const owner = await user();
  const res = await owner.api.post('/v1/visualize/repository', { repository_url: join(root, 'demo') });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  viz = { owner, id: res.body.visualization_id };
}, 120_000);
afterAll(async () => {
  await sys?.close();
  rmSync(root, { recursive: true, force: true });
});

/** One mutation as a test case: its owner, the change, other arguments, and where a second run would show. */
interface Case {
  owner: Owner;
  /** The mutation, with `$key` as its idempotencyKey; its root field's payload is compared whole. */
  document: string;
  variables: Record<string, unknown>;
  /** Other arguments: with the same key, IDEMPOTENCY_CONFLICT. */
  other: Record<string, unknown>;
  /** The rows and events the change touches, read from the database. */
  state(): Promise<unknown>;
  /** A repeat without a key, as before keys existed: its error code, or null when it succeeds again. */
  withoutKey: string | null;
  /** The same change over REST, and one with other arguments. */
  rest: { method: 'PATCH' | 'DELETE'; path: string; body?: unknown };
  restOther: { method: 'PATCH' | 'DELETE'; path: string; body?: unknown };
}

const db = () => sys.services.db;
const events = (streamId: string) => db().event.count({ where: { streamId } });
const cancelRequests = async (workflowId: string) =>
  (await sys.services.temporal.workflow.getHandle(workflowId).fetchHistory()).events?.filter((e) => e.workflowExecutionCancelRequestedEventAttributes).length;

async function team(owner: Owner) {
  const res = await owner.api.post('/v1/teams', { name: unique('team') });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

/** A team of `owner` with a second member who accepted an invitation. */
async function teamWithMember(owner: Owner) {
  const teamId = await team(owner);
  const member = await user();
  const invitation = (await owner.api.post(`/v1/teams/${teamId}/members`, { email: member.email, role: 'member' })).body.id;
  expect((await member.api.post(`/v1/invitations/${invitation}/accept`, undefined)).status).toBe(200);
  const memberState = async () => ({ member: await db().teamMember.findUnique({ where: { teamId_userId: { teamId, userId: member.userId } } }), events: await events(teamId) });
  return { teamId, member, memberState };
}

const cases: Record<string, () => Promise<Case>> = {
  cancelTask: async () => {
    const owner = await user();
    const id = (await owner.api.post('/v1/agents/execute', executeBody())).body.task_id;
    return {
      owner,
      document: 'mutation($id: ID!, $key: String) { cancelTask(id: $id, idempotencyKey: $key) { replayed task { id status } } }',
      variables: { id },
      other: { id: 'task_other' },
      state: async () => ({ task: await db().agentTask.findUnique({ where: { id } }), events: await events(id) }),
      withoutKey: 'TASK_NOT_CANCELLABLE',
      rest: { method: 'DELETE', path: `/v1/agents/tasks/${id}` },
      restOther: { method: 'DELETE', path: '/v1/agents/tasks/task_other' },
    };
  },
  cancelOrchestration: async () => {
    const owner = await user();
    const res = await owner.api.post('/v1/agents/orchestrate', { goal: 'Scan', agents: ['security_expert'], context: { files: [vulnerableJs] } });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const id = res.body.orchestration_id;
    return {
      owner,
      document: 'mutation($id: ID!, $key: String) { cancelOrchestration(id: $id, idempotencyKey: $key) { replayed orchestration { id status } } }',
      variables: { id },
      other: { id: 'orc_other' },
      // With no worker the workflow does not end: the change is the cancellation request in its history.
      state: async () => ({ orchestration: await db().orchestration.findUnique({ where: { id } }), events: await events(id), cancelRequests: await cancelRequests(id) }),
      withoutKey: null, // still in progress: cancelling it again is allowed
      rest: { method: 'DELETE', path: `/v1/agents/orchestrations/${id}` },
      restOther: { method: 'DELETE', path: '/v1/agents/orchestrations/orc_other' },
    };
  },
  updateTeam: async () => {
    const owner = await user();
    const id = await team(owner);
    return {
      owner,
      document: 'mutation($id: ID!, $name: String, $key: String) { updateTeam(id: $id, input: { name: $name }, idempotencyKey: $key) { replayed team { id name updatedAt } } }',
      variables: { id, name: 'Renamed' },
      other: { id, name: 'Other' },
      state: () => db().team.findUnique({ where: { id } }),
      withoutKey: null,
      rest: { method: 'PATCH', path: `/v1/teams/${id}`, body: { name: 'Renamed' } },
      restOther: { method: 'PATCH', path: `/v1/teams/${id}`, body: { name: 'Other' } },
    };
  },
  deleteTeam: async () => {
    const owner = await user();
    const id = await team(owner);
    return {
      owner,
      document: 'mutation($id: ID!, $key: String) { deleteTeam(id: $id, idempotencyKey: $key) { replayed team { id name createdAt updatedAt } } }',
      variables: { id },
      other: { id: 'team_other' },
      state: async () => ({ team: await db().team.findUnique({ where: { id } }), members: await db().teamMember.count({ where: { teamId: id } }) }),
      withoutKey: 'RESOURCE_NOT_FOUND',
      rest: { method: 'DELETE', path: `/v1/teams/${id}` },
      restOther: { method: 'DELETE', path: '/v1/teams/team_other' },
    };
  },
  revokeTeamInvitation: async () => {
    const owner = await user();
    const teamId = await team(owner);
    const id = (await owner.api.post(`/v1/teams/${teamId}/members`, { email: `${unique('invitee')}@example.com`, role: 'member' })).body.id;
    return {
      owner,
      document: 'mutation($teamId: ID!, $id: ID!, $key: String) { revokeTeamInvitation(teamId: $teamId, id: $id, idempotencyKey: $key) { replayed invitation { id status } } }',
      variables: { teamId, id },
      other: { teamId, id: 'inv_other' },
      state: () => db().teamInvitation.findUnique({ where: { id } }),
      withoutKey: 'INVITATION_NOT_PENDING',
      rest: { method: 'DELETE', path: `/v1/teams/${teamId}/invitations/${id}` },
      restOther: { method: 'DELETE', path: `/v1/teams/${teamId}/invitations/inv_other` },
    };
  },
  changeTeamMemberRole: async () => {
    const owner = await user();
    const { teamId, member, memberState } = await teamWithMember(owner);
    return {
      owner,
      document:
        'mutation($teamId: ID!, $userId: ID!, $role: TeamRole!, $key: String) { changeTeamMemberRole(teamId: $teamId, userId: $userId, role: $role, idempotencyKey: $key) { replayed member { userId role joinedAt } } }',
      variables: { teamId, userId: member.userId, role: 'ADMIN' },
      other: { teamId, userId: member.userId, role: 'VIEWER' },
      state: memberState,
      withoutKey: null,
      rest: { method: 'PATCH', path: `/v1/teams/${teamId}/members/${member.userId}`, body: { role: 'admin' } },
      restOther: { method: 'PATCH', path: `/v1/teams/${teamId}/members/${member.userId}`, body: { role: 'viewer' } },
    };
  },
  removeTeamMember: async () => {
    const owner = await user();
    const { teamId, member, memberState } = await teamWithMember(owner);
    return {
      owner,
      document: 'mutation($teamId: ID!, $userId: ID!, $key: String) { removeTeamMember(teamId: $teamId, userId: $userId, idempotencyKey: $key) { replayed member { userId role joinedAt user { id } } } }',
      variables: { teamId, userId: member.userId },
      other: { teamId, userId: owner.userId },
      state: memberState,
      withoutKey: 'RESOURCE_NOT_FOUND',
      rest: { method: 'DELETE', path: `/v1/teams/${teamId}/members/${member.userId}` },
      restOther: { method: 'DELETE', path: `/v1/teams/${teamId}/members/${owner.userId}` },
    };
  },
  revokeScimToken: async () => {
    const owner = await user();
    const teamId = await team(owner);
    const created = await owner.api.post(`/v1/teams/${teamId}/scim-tokens`, { name: 'IdP' });
    expect(created.status).toBe(201);
    const id = created.body.id;
    return {
      owner,
      document: 'mutation($teamId: ID!, $id: ID!, $key: String) { revokeScimToken(teamId: $teamId, id: $id, idempotencyKey: $key) { replayed scimToken { id revokedAt } } }',
      variables: { teamId, id },
      other: { teamId, id: 'scim_other' },
      state: () => db().scimToken.findUnique({ where: { id } }),
      withoutKey: null, // a second revocation answers the token as it is
      rest: { method: 'DELETE', path: `/v1/teams/${teamId}/scim-tokens/${id}` },
      restOther: { method: 'DELETE', path: `/v1/teams/${teamId}/scim-tokens/scim_other` },
    };
  },
  updateProject: async () => {
    const owner = await user();
    const id = (await owner.api.post('/v1/projects', { name: unique('project') })).body.id;
    return {
      owner,
      document: 'mutation($id: ID!, $description: String, $key: String) { updateProject(id: $id, input: { description: $description }, idempotencyKey: $key) { replayed project { id description updatedAt } } }',
      variables: { id, description: 'Changed' },
      other: { id, description: 'Other' },
      state: () => db().project.findUnique({ where: { id } }),
      withoutKey: null,
      rest: { method: 'PATCH', path: `/v1/projects/${id}`, body: { description: 'Changed' } },
      restOther: { method: 'PATCH', path: `/v1/projects/${id}`, body: { description: 'Other' } },
    };
  },
  updateReview: async () => {
    const owner = await user();
    const created = await owner.api.post('/v1/reviews', { files: [vulnerableJs] });
    expect(created.status, JSON.stringify(created.body)).toBeLessThan(300);
    const id = created.body.id;
    return {
      owner,
      document: 'mutation($id: ID!, $title: String, $key: String) { updateReview(id: $id, input: { title: $title }, idempotencyKey: $key) { replayed review { id title updatedAt } } }',
      variables: { id, title: 'Checked' },
      other: { id, title: 'Other' },
      state: () => db().review.findUnique({ where: { id } }),
      withoutKey: null,
      rest: { method: 'PATCH', path: `/v1/reviews/${id}`, body: { title: 'Checked' } },
      restOther: { method: 'PATCH', path: `/v1/reviews/${id}`, body: { title: 'Other' } },
    };
  },
  updateWebhook: async () => {
    const owner = await user();
    const projectId = (await owner.api.post('/v1/projects', { name: unique('hooked') })).body.id;
    const created = await owner.api.post('/v1/webhooks', { project_id: projectId, url: 'http://127.0.0.2:9/hook', events: ['task.completed'] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id;
    return {
      owner,
      document: 'mutation($id: ID!, $description: String, $key: String) { updateWebhook(id: $id, input: { description: $description }, idempotencyKey: $key) { replayed redelivered webhook { id description updatedAt } } }',
      variables: { id, description: 'Changed' },
      other: { id, description: 'Other' },
      state: () => db().webhook.findUnique({ where: { id } }),
      withoutKey: null,
      rest: { method: 'PATCH', path: `/v1/webhooks/${id}`, body: { description: 'Changed' } },
      restOther: { method: 'PATCH', path: `/v1/webhooks/${id}`, body: { description: 'Other' } },
    };
  },
  revokeShare: async () => {
    const created = await viz.owner.api.post(`/v1/visualize/${viz.id}/share`, {});
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.share_id;
    return {
      owner: viz.owner,
      document: 'mutation($id: ID!, $key: String) { revokeShare(id: $id, idempotencyKey: $key) { replayed id url revokedAt } }',
      variables: { id },
      other: { id: 'shr_other' },
      state: () => db().visualizationShare.findUnique({ where: { id } }),
      withoutKey: null, // a second revocation answers the share as it is
      rest: { method: 'DELETE', path: `/v1/visualize/${viz.id}/share/${id}` },
      restOther: { method: 'DELETE', path: `/v1/visualize/${viz.id}/share/shr_other` },
    };
  },
  deleteProject: async () => {
    const owner = await user();
    const id = (await owner.api.post('/v1/projects', { name: unique('doomed') })).body.id;
    return {
      owner,
      document: 'mutation($id: ID!, $key: String) { deleteProject(id: $id, idempotencyKey: $key) { replayed deletedProjectId name } }',
      variables: { id },
      other: { id: 'prj_other' },
      state: () => db().project.findUnique({ where: { id } }),
      withoutKey: 'RESOURCE_NOT_FOUND',
      rest: { method: 'DELETE', path: `/v1/projects/${id}` },
      restOther: { method: 'DELETE', path: '/v1/projects/prj_other' },
    };
  },
  deleteWebhook: async () => {
    const owner = await user();
    const projectId = (await owner.api.post('/v1/projects', { name: unique('hooked') })).body.id;
    const id = (await owner.api.post('/v1/webhooks', { project_id: projectId, url: 'http://127.0.0.2:9/hook', events: ['task.completed'] })).body.id;
    return {
      owner,
      document: 'mutation($id: ID!, $key: String) { deleteWebhook(id: $id, idempotencyKey: $key) { replayed id } }',
      variables: { id },
      other: { id: 'whk_other' },
      state: () => db().webhook.findUnique({ where: { id } }),
      withoutKey: 'RESOURCE_NOT_FOUND',
      rest: { method: 'DELETE', path: `/v1/webhooks/${id}` },
      restOther: { method: 'DELETE', path: '/v1/webhooks/whk_other' },
    };
  },
  revokeApiKey: async () => {
    const owner = await user();
    const id = (await owner.api.post('/v1/keys', { name: unique('spare') })).body.id;
    return {
      owner,
      document: 'mutation($id: ID!, $key: String) { revokeApiKey(id: $id, idempotencyKey: $key) { replayed apiKey { id revokedAt } } }',
      variables: { id },
      other: { id: 'key_other' },
      state: async () => ({ key: await db().apiKey.findUnique({ where: { id } }), events: await events(owner.userId) }),
      withoutKey: null, // a second revocation answers the key as it is
      rest: { method: 'DELETE', path: `/v1/keys/${id}` },
      restOther: { method: 'DELETE', path: '/v1/keys/key_other' },
    };
  },
  revokeOAuthClient: async () => {
    const owner = await user();
    const id = (await owner.api.post('/v1/oauth/clients', { name: unique('ci') })).body.id;
    return {
      owner,
      document: 'mutation($id: ID!, $key: String) { revokeOAuthClient(id: $id, idempotencyKey: $key) { replayed client { id revokedAt } } }',
      variables: { id },
      other: { id: 'oac_other' },
      state: () => db().oAuthClient.findUnique({ where: { id } }),
      withoutKey: null, // a second revocation answers the client as it is
      rest: { method: 'DELETE', path: `/v1/oauth/clients/${id}` },
      restOther: { method: 'DELETE', path: '/v1/oauth/clients/oac_other' },
    };
  },
};

const rootField = (document: string) => /\{\s*(\w+)\(/.exec(document)![1];
const codeOf = (res: { body: { errors?: Array<{ extensions: Record<string, any> }> } }) => res.body.errors?.[0]?.extensions.code;

describe.each(Object.keys(cases))('%s with an idempotencyKey', (name) => {
  it("another account's id is RESOURCE_NOT_FOUND; the first call runs once, repeats answer its payload replayed; other arguments are IDEMPOTENCY_CONFLICT; no key is as before", async () => {
    const c = await cases[name]();
    const field = rootField(c.document);
    expect(field).toBe(name);
    const send = (apiKey: string, variables: Record<string, unknown>) => graphql(sys.url, apiKey, c.document, variables);
    const payloadOf = (res: Awaited<ReturnType<typeof send>>) => {
      expect(res.body.errors, JSON.stringify(res.body.errors)).toBeUndefined();
      return res.body.data[field];
    };
    const k = key();
    const untouched = await c.state();

    // Another account, with the same key: not found, nothing changed, and the key stays the owner's to use.
    const stranger = await user();
    expect(codeOf(await send(stranger.apiKey, { ...c.variables, key: k }))).toBe('RESOURCE_NOT_FOUND');
    expect(await c.state()).toEqual(untouched);

    const [a, b] = await Promise.all([send(c.owner.apiKey, { ...c.variables, key: k }), send(c.owner.apiKey, { ...c.variables, key: k })]);
    const [first, concurrent] = [payloadOf(a), payloadOf(b)].sort((x, y) => Number(x.replayed) - Number(y.replayed));
    expect([first.replayed, concurrent.replayed]).toEqual([false, true]);
    expect(concurrent).toEqual({ ...first, replayed: true });
    const changed = await c.state();
    expect(changed).not.toEqual(untouched);

    const later = payloadOf(await send(c.owner.apiKey, { ...c.variables, key: k }));
    expect(later).toEqual({ ...first, replayed: true });
    expect(await c.state()).toEqual(changed);

    const conflict = await send(c.owner.apiKey, { ...c.other, key: k });
    expect(codeOf(conflict)).toBe('IDEMPOTENCY_CONFLICT');
    expect(conflict.body.errors![0].message).toEqual(expect.any(String));
    expect(await c.state()).toEqual(changed);

    const plain = await send(c.owner.apiKey, c.variables);
    if (c.withoutKey) expect(codeOf(plain)).toBe(c.withoutKey);
    else expect(payloadOf(plain).replayed).toBe(false);
  });
});

/** The PATCH or DELETE route of the table a request goes to. */
const routeOf = (r: Case['rest']) => restRoutes.find((route) => route.method === r.method && new RegExp(`^${route.path.replace(/\{\w+\}/g, '[^/]+')}$`).test(r.path));

it('every PATCH and DELETE route of the table is exercised here', async () => {
  const changes = restRoutes.filter((r) => r.method === 'PATCH' || r.method === 'DELETE');
  const covered = await Promise.all(Object.values(cases).map(async (setUp) => routeOf((await setUp()).rest)));
  expect(changes.filter((r) => !covered.includes(r)).map((r) => `${r.method} ${r.path}`)).toEqual([]);
});

describe.each(Object.keys(cases))('REST route of %s with an Idempotency-Key', (name) => {
  it('a concurrent and a later repeat answer the first result (Idempotent-Replayed: true); another request with the key is 409', async () => {
    const c = await cases[name]();
    expect(routeOf(c.rest)?.idempotent, `${c.rest.method} ${c.rest.path}`).toBe(true);
    const k = key();
    const send = (r: Case['rest']) => c.owner.api.request(r.method, r.path, r.body, { 'idempotency-key': k });
    const first = await expectRepeatsReplayed(() => send(c.rest));
    expect(first.status).toBe(200);
    const changed = await c.state();
    expectIdempotencyConflict(await send(c.restOther));
    expect(await c.state()).toEqual(changed);
  });
});

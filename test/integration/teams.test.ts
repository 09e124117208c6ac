/**
 * Teams (/v1/teams and the GraphQL team fields): create, read, list, rename and delete; members
 * added by user id or e-mail; what each role may do with the team and its tasks; what an outsider
 * sees (404, never 403); the last owner; input validation that changes nothing; the membership
 * events on the team's stream; concurrent adds and removals; and team tasks (a running one blocks
 * deleting the team).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql, restClient, waitFor, type HttpResult } from '../helpers/client.js';
import { executeBody, manyFiles, vulnerableJs } from '../helpers/fixtures.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

// Each file of a task takes STEP ms, so a task over manyFiles(40) runs about 12 s: long enough to
// still be queued or running when a test cancels it or tries to delete its team.
const STEP = 300;
const LONG_TASK = manyFiles(40);

let sys: TestSystem;

beforeAll(async () => {
  sys = await startTestSystem({ env: { AGENT_STEP_DELAY_MS: String(STEP) } });
});
afterAll(() => sys?.close());

type Role = 'owner' | 'admin' | 'member' | 'viewer';

/** A REST client with PATCH. */
function client(apiKey?: string) {
  const api = restClient(sys.url, apiKey);
  return { ...api, patch: <T = any>(path: string, body: unknown) => api.request<T>('PATCH', path, body) };
}

interface Actor {
  userId: string;
  apiKey: string;
  name: string;
  api: ReturnType<typeof client>;
}

async function newUser(name: string, account: { email?: string } = {}): Promise<Actor> {
  const created = await sys.createUser(name, account);
  return { ...created, name, api: client(created.apiKey) };
}

function expectError(res: HttpResult, status: number, code: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body.error).toMatchObject({ code, message: expect.any(String), request_id: expect.any(String), doc_url: expect.any(String) });
}

function expectOk(res: HttpResult, status = 200) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  return res.body;
}

const teamPath = (teamId: string) => `/v1/teams/${teamId}`;
const membersPath = (teamId: string, userId?: string) => `/v1/teams/${teamId}/members${userId ? `/${userId}` : ''}`;

async function createTeam(owner: Actor, name = 'Platform') {
  return expectOk(await owner.api.post('/v1/teams', { name }), 201);
}

/** Invites `who` and has them accept: the way anyone joins a team. Returns their membership. */
async function addMember(by: Actor, teamId: string, who: Actor, role: Role) {
  const invitation = expectOk(await by.api.post(membersPath(teamId), { user_id: who.userId, role }), 202);
  return expectOk(await who.api.post(`/v1/invitations/${invitation.id}/accept`, {})).member;
}

/** A fresh team with one user in each role, and an outsider who belongs to none. */
async function staffedTeam() {
  const [owner, admin, member, viewer, outsider] = await Promise.all(['Olive', 'Ada', 'Mel', 'Vic', 'Oscar'].map((n) => newUser(n)));
  const team = await createTeam(owner);
  await addMember(owner, team.id, admin, 'admin');
  await addMember(owner, team.id, member, 'member');
  await addMember(owner, team.id, viewer, 'viewer');
  return { team, teamId: team.id as string, owner, admin, member, viewer, outsider };
}

/** Each member's role, straight from the database. */
async function storedRoles(teamId: string): Promise<Record<string, string>> {
  const rows = await sys.services.db.teamMember.findMany({ where: { teamId } });
  return Object.fromEntries(rows.map((m) => [m.userId, m.role]));
}

const teamEvents = (teamId: string) => sys.services.db.event.findMany({ where: { streamId: teamId }, orderBy: { seq: 'asc' } });

/** Starts a task (a team's with `teamId`) and returns its id. */
async function startTask(who: Actor, teamId?: string, files = [vulnerableJs]) {
  const body = expectOk(await who.api.post('/v1/agents/execute', executeBody(files, teamId ? { team_id: teamId } : {})), 202);
  return body.task_id as string;
}

/** Waits until a task is no longer queued or running. */
function waitForFinished(who: Actor, taskId: string) {
  return waitFor(async () => {
    const task = expectOk(await who.api.get(`/v1/agents/tasks/${taskId}`));
    return ['queued', 'running'].includes(task.status) ? undefined : task;
  });
}

const gqlError = (res: Awaited<ReturnType<typeof graphql>>) => res.body.errors?.[0]?.extensions.code;

describe('team lifecycle over REST', () => {
  it('creates a team with the caller as its only owner, and reads it back', async () => {
    const olive = await newUser('Olive Owner', { email: 'olive@teams.test' });
    const created = await createTeam(olive, '  Platform  ');
    expect(created).toEqual({
      id: expect.stringMatching(/^team_[0-9a-f-]{36}$/),
      object: 'team',
      name: 'Platform',
      role: 'owner',
      members: [{ user_id: olive.userId, role: 'owner', name: 'Olive Owner', email: 'olive@teams.test', joined_at: expect.any(String) }],
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });
    expect(Date.parse(created.created_at)).not.toBeNaN();
    expect(expectOk(await olive.api.get(teamPath(created.id)))).toEqual(created);
    expect(await storedRoles(created.id)).toEqual({ [olive.userId]: 'owner' });
  });

  it('lists only the teams the caller belongs to, newest first, with cursors', async () => {
    const [lister, stranger] = await Promise.all([newUser('Lister'), newUser('Stranger')]);
    const first = await createTeam(lister, 'First');
    const second = await createTeam(lister, 'Second');
    const third = await createTeam(lister, 'Third');
    await createTeam(stranger, 'Not yours');

    const all = expectOk(await lister.api.get('/v1/teams'));
    expect(all).toMatchObject({ object: 'list', has_more: false, next_cursor: null, url: '/v1/teams' });
    expect(all.data.map((t: any) => t.name)).toEqual(['Third', 'Second', 'First']);
    expect(all.data.every((t: any) => t.role === 'owner' && t.object === 'team')).toBe(true);

    const page = expectOk(await lister.api.get('/v1/teams?limit=2'));
    expect(page.data.map((t: any) => t.id)).toEqual([third.id, second.id]);
    expect(page.has_more).toBe(true);
    const next = expectOk(await lister.api.get(`/v1/teams?limit=2&starting_after=${page.next_cursor}`));
    expect(next.data.map((t: any) => t.id)).toEqual([first.id]);
    expect(next.has_more).toBe(false);

    expect(expectOk(await stranger.api.get('/v1/teams')).data.map((t: any) => t.name)).toEqual(['Not yours']);
  });

  it('creates one team per Idempotency-Key, and refuses the key with a different body', async () => {
    const owner = await newUser('Retrier');
    const create = (name: string) => owner.api.post('/v1/teams', { name }, { 'idempotency-key': 'create-team-1' });
    const first = expectOk(await create('Retried'), 201);
    const again = await create('Retried');
    expect(expectOk(again, 201).id).toBe(first.id);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expectError(await create('Something else'), 409, 'idempotency_conflict');
    expect(await sys.services.db.teamMember.count({ where: { userId: owner.userId } })).toBe(1);
  });

  it('renames a team, trimming the name, and leaves it alone on an empty patch', async () => {
    const owner = await newUser('Renamer');
    const team = await createTeam(owner, 'Old name');
    const renamed = expectOk(await owner.api.patch(teamPath(team.id), { name: ' New name ' }));
    expect(renamed).toMatchObject({ id: team.id, name: 'New name', role: 'owner', created_at: team.created_at });
    expect(Date.parse(renamed.updated_at)).toBeGreaterThanOrEqual(Date.parse(team.updated_at));
    expect(expectOk(await owner.api.patch(teamPath(team.id), {})).name).toBe('New name');
    expect(expectOk(await owner.api.get(teamPath(team.id))).name).toBe('New name');
  });

  it('deletes a team: it is gone for every member, with its memberships and tasks', async () => {
    const { teamId, owner, viewer } = await staffedTeam();
    const taskId = await startTask(owner, teamId);
    await waitForFinished(owner, taskId);

    expect(expectOk(await owner.api.delete(teamPath(teamId)))).toEqual({ id: teamId, object: 'team', deleted: true });
    expectError(await owner.api.get(teamPath(teamId)), 404, 'resource_not_found');
    expectError(await viewer.api.get(teamPath(teamId)), 404, 'resource_not_found');
    expectError(await owner.api.get(`/v1/agents/tasks/${taskId}`), 404, 'resource_not_found');
    expect(expectOk(await viewer.api.get('/v1/teams')).data).toEqual([]);
    expect(await sys.services.db.teamMember.count({ where: { teamId } })).toBe(0);
    expectError(await owner.api.delete(teamPath(teamId)), 404, 'resource_not_found');
  });

  it('needs a credential (401) and a secret key: a publishable key may read teams (when allowed) but not create one (403)', async () => {
    expectError(await client().get('/v1/teams'), 401, 'authentication_required');
    expectError(await client().post('/v1/teams', { name: 'Anon' }), 401, 'authentication_required');

    const owner = await newUser('Browser owner');
    const team = await createTeam(owner, 'Readable');
    // By default a publishable key does not see teams and their members' e-mails; its creator may allow them.
    const byDefault = expectOk(await owner.api.post('/v1/keys', { name: 'default browser', kind: 'publishable' }), 201);
    expectError(await client(byDefault.secret).get('/v1/teams'), 403, 'permission_denied');
    const key = expectOk(await owner.api.post('/v1/keys', { name: 'browser', kind: 'publishable', read_resources: ['teams', 'team_members'] }), 201);
    const publishable = client(key.secret);
    expectError(await publishable.post('/v1/teams', { name: 'Via browser' }), 403, 'permission_denied');
    expectError(await publishable.post(membersPath(team.id), { user_id: owner.userId, role: 'viewer' }), 403, 'permission_denied');
    expect(expectOk(await publishable.get('/v1/teams')).data.map((t: any) => t.id)).toEqual([team.id]);
    expect(await sys.services.db.teamMember.count({ where: { userId: owner.userId } })).toBe(1);
  });
});

describe('team lifecycle over GraphQL', () => {
  const TEAM_FIELDS = 'id name viewerRole members { userId role user { id name } }';

  it('creates, reads (team, teams, node), renames and deletes a team', async () => {
    const owner = await newUser('Gql owner');
    const created = await graphql(sys.url, owner.apiKey, `mutation { createTeam(input: { name: "Gql team" }) { replayed team { ${TEAM_FIELDS} } } }`);
    expect(created.body.errors).toBeUndefined();
    const team = created.body.data.createTeam.team;
    expect(created.body.data.createTeam.replayed).toBe(false);
    expect(team).toEqual({
      id: expect.stringMatching(/^team_/),
      name: 'Gql team',
      viewerRole: 'OWNER',
      members: [{ userId: owner.userId, role: 'OWNER', user: { id: owner.userId, name: 'Gql owner' } }],
    });

    const read = await graphql(sys.url, owner.apiKey, `query($id: ID!) { team(id: $id) { ${TEAM_FIELDS} } node(id: $id) { __typename id } teams(first: 5) { edges { node { id } } } }`, {
      id: team.id,
    });
    expect(read.body.data).toEqual({ team, node: { __typename: 'Team', id: team.id }, teams: { edges: [{ node: { id: team.id } }] } });

    const renamed = await graphql(sys.url, owner.apiKey, `mutation($id: ID!) { updateTeam(id: $id, input: { name: "Renamed" }) { team { name } } }`, { id: team.id });
    expect(renamed.body.data.updateTeam.team.name).toBe('Renamed');
    // The rename is what REST sees too.
    expect(expectOk(await owner.api.get(teamPath(team.id))).name).toBe('Renamed');

    const deleted = await graphql(sys.url, owner.apiKey, `mutation($id: ID!) { deleteTeam(id: $id) { team { id } } }`, { id: team.id });
    expect(deleted.body.data.deleteTeam.team.id).toBe(team.id);
    expect(gqlError(await graphql(sys.url, owner.apiKey, `query($id: ID!) { team(id: $id) { id } }`, { id: team.id }))).toBe('RESOURCE_NOT_FOUND');
  });

  it('adds, promotes and removes members with the GraphQL mutations', async () => {
    const owner = await newUser('Gql admin owner');
    const [byId, byEmail] = await Promise.all([newUser('By id'), newUser('By email', { email: 'by.email@teams.test' })]);
    const team = await createTeam(owner);
    const MEMBER = 'member { userId role user { name } }';
    const add = (input: Record<string, unknown>) =>
      graphql(sys.url, owner.apiKey, `mutation($t: ID!, $i: AddTeamMemberInput!) { addTeamMember(teamId: $t, input: $i) { invitation { id role status userId email } member { role } } }`, {
        t: team.id,
        i: input,
      });
    const accept = async (who: Actor, id: string) => {
      const res = await graphql(sys.url, who.apiKey, `mutation($id: ID!) { acceptTeamInvitation(id: $id) { invitation { status } ${MEMBER} } }`, { id });
      expect(res.body.errors).toBeUndefined();
      return res.body.data.acceptTeamInvitation;
    };

    const toId = (await add({ userId: byId.userId, role: 'MEMBER' })).body.data.addTeamMember;
    expect(toId).toEqual({ invitation: { id: expect.stringMatching(/^inv_/), role: 'MEMBER', status: 'PENDING', userId: byId.userId, email: null }, member: null });
    const toEmail = (await add({ email: 'BY.EMAIL@teams.test', role: 'VIEWER' })).body.data.addTeamMember;
    expect(toEmail.invitation).toMatchObject({ role: 'VIEWER', status: 'PENDING', userId: null, email: 'by.email@teams.test' });
    expect(await storedRoles(team.id)).toEqual({ [owner.userId]: 'owner' }); // nobody joined yet
    const mine = await graphql(sys.url, byEmail.apiKey, '{ teamInvitations { id teamName role } }');
    expect(mine.body.data.teamInvitations).toEqual([{ id: toEmail.invitation.id, teamName: 'Platform', role: 'VIEWER' }]);
    expect(await accept(byId, toId.invitation.id)).toEqual({ invitation: { status: 'ACCEPTED' }, member: { userId: byId.userId, role: 'MEMBER', user: { name: 'By id' } } });
    expect((await accept(byEmail, toEmail.invitation.id)).member).toEqual({ userId: byEmail.userId, role: 'VIEWER', user: { name: 'By email' } });
    expect(gqlError(await add({ userId: byId.userId, role: 'VIEWER' }))).toBe('MEMBER_EXISTS');
    expect(gqlError(await add({ role: 'VIEWER' }))).toBe('VALIDATION_ERROR');

    const changed = await graphql(sys.url, owner.apiKey, `mutation($t: ID!, $u: ID!) { changeTeamMemberRole(teamId: $t, userId: $u, role: ADMIN) { ${MEMBER} } }`, { t: team.id, u: byId.userId });
    expect(changed.body.data.changeTeamMemberRole.member.role).toBe('ADMIN');
    const removed = await graphql(sys.url, owner.apiKey, `mutation($t: ID!, $u: ID!) { removeTeamMember(teamId: $t, userId: $u) { member { userId role } } }`, { t: team.id, u: byEmail.userId });
    expect(removed.body.data.removeTeamMember.member).toEqual({ userId: byEmail.userId, role: 'VIEWER' });
    const lastOwner = await graphql(sys.url, owner.apiKey, `mutation($t: ID!, $u: ID!) { removeTeamMember(teamId: $t, userId: $u) { member { userId } } }`, { t: team.id, u: owner.userId });
    expect(gqlError(lastOwner)).toBe('LAST_OWNER');

    expect(await storedRoles(team.id)).toEqual({ [owner.userId]: 'owner', [byId.userId]: 'admin' });
  });
});

describe('members over REST', () => {
  it('invites an account by user_id and by e-mail (any case); each joins on accepting, and the team lists them', async () => {
    const owner = await newUser('Owner');
    const [byId, byEmail] = await Promise.all([newUser('Ian'), newUser('Emma', { email: 'emma@teams.test' })]);
    const team = await createTeam(owner);

    expect(await addMember(owner, team.id, byId, 'member')).toEqual({ user_id: byId.userId, role: 'member', name: 'Ian', email: null, joined_at: expect.any(String) });
    const invited = expectOk(await owner.api.post(membersPath(team.id), { email: ' Emma@Teams.test ', role: 'viewer' }), 202);
    expect(invited).toEqual({
      id: expect.stringMatching(/^inv_/),
      object: 'team_invitation',
      team_id: team.id,
      team_name: 'Platform',
      email: 'emma@teams.test',
      user_id: null,
      role: 'viewer',
      status: 'pending',
      expires_at: expect.any(String),
      created_at: expect.any(String),
    });
    expect(expectOk(await owner.api.get(teamPath(team.id))).members.map((m: any) => m.user_id)).toEqual([owner.userId, byId.userId]);
    const accepted = expectOk(await byEmail.api.post(`/v1/invitations/${invited.id}/accept`, {}));
    expect(accepted).toMatchObject({ id: invited.id, status: 'accepted' });
    expect(accepted.member).toEqual({ user_id: byEmail.userId, role: 'viewer', name: 'Emma', email: 'emma@teams.test', joined_at: expect.any(String) });

    const read = expectOk(await owner.api.get(teamPath(team.id)));
    expect(read.members.map((m: any) => [m.user_id, m.role])).toEqual([
      [owner.userId, 'owner'],
      [byId.userId, 'member'],
      [byEmail.userId, 'viewer'],
    ]);
    // Each member sees the team with their own role.
    expect(expectOk(await byEmail.api.get(teamPath(team.id))).role).toBe('viewer');
    expect(expectOk(await byId.api.get('/v1/teams')).data.map((t: any) => [t.id, t.role])).toEqual([[team.id, 'member']]);
  });

  it('refuses a second add of the same account with 409 member_exists, keeping its role', async () => {
    const { teamId, owner, member } = await staffedTeam();
    const before = await storedRoles(teamId);
    expectError(await owner.api.post(membersPath(teamId), { user_id: member.userId, role: 'admin' }), 409, 'member_exists');
    expectError(await owner.api.post(membersPath(teamId), { user_id: owner.userId, role: 'viewer' }), 409, 'member_exists');
    expect(await storedRoles(teamId)).toEqual(before);
  });

  it('changes a role and removes a member, who then loses access', async () => {
    const { teamId, owner, member } = await staffedTeam();
    expect(expectOk(await owner.api.patch(membersPath(teamId, member.userId), { role: 'viewer' }))).toMatchObject({ user_id: member.userId, role: 'viewer', name: 'Mel' });
    expect(expectOk(await member.api.get(teamPath(teamId))).role).toBe('viewer');

    expect(expectOk(await owner.api.delete(membersPath(teamId, member.userId)))).toEqual({ user_id: member.userId, role: 'viewer', removed: true });
    expectError(await member.api.get(teamPath(teamId)), 404, 'resource_not_found');
    expect(expectOk(await member.api.get('/v1/teams')).data).toEqual([]);
    expect((await storedRoles(teamId))[member.userId]).toBeUndefined();
    expectError(await owner.api.delete(membersPath(teamId, member.userId)), 404, 'resource_not_found');
  });

  it('lets anyone leave: a viewer removes themselves', async () => {
    const { teamId, viewer } = await staffedTeam();
    expect(expectOk(await viewer.api.delete(membersPath(teamId, viewer.userId)))).toEqual({ user_id: viewer.userId, role: 'viewer', removed: true });
    expectError(await viewer.api.get(teamPath(teamId)), 404, 'resource_not_found');
  });
});

describe('what each role may do', () => {
  it('viewer: reads the team and its tasks, but may not run, cancel, manage or rename', async () => {
    const { teamId, owner, member, viewer, outsider } = await staffedTeam();
    const taskId = await startTask(owner, teamId, LONG_TASK);

    expect(expectOk(await viewer.api.get(teamPath(teamId))).role).toBe('viewer');
    expect(expectOk(await viewer.api.get(`/v1/agents/tasks/${taskId}`))).toMatchObject({ task_id: taskId, team_id: teamId });
    expect(expectOk(await viewer.api.get(`/v1/agents/tasks?team_id=${teamId}`)).data.map((t: any) => t.task_id)).toEqual([taskId]);

    const tasksBefore = await sys.services.db.agentTask.count({ where: { teamId } });
    expectError(await viewer.api.delete(`/v1/agents/tasks/${taskId}`), 403, 'permission_denied');
    expectError(await viewer.api.post('/v1/agents/execute', executeBody([vulnerableJs], { team_id: teamId })), 403, 'permission_denied');
    expectError(await viewer.api.post(membersPath(teamId), { user_id: outsider.userId, role: 'viewer' }), 403, 'permission_denied');
    expectError(await viewer.api.patch(membersPath(teamId, member.userId), { role: 'viewer' }), 403, 'permission_denied');
    expectError(await viewer.api.delete(membersPath(teamId, member.userId)), 403, 'permission_denied');
    expectError(await viewer.api.patch(teamPath(teamId), { name: 'Viewer was here' }), 403, 'permission_denied');
    expectError(await viewer.api.delete(teamPath(teamId)), 403, 'permission_denied');

    expect(await sys.services.db.agentTask.count({ where: { teamId } })).toBe(tasksBefore);
    expect(expectOk(await owner.api.get(`/v1/agents/tasks/${taskId}`)).status).not.toBe('cancelled');
    expect(expectOk(await owner.api.get(teamPath(teamId))).name).toBe('Platform');
    expect(Object.keys(await storedRoles(teamId))).toHaveLength(4);
    expectOk(await owner.api.delete(`/v1/agents/tasks/${taskId}`));
  });

  it('member: runs team tasks and cancels them, but may not manage members or rename', async () => {
    const { teamId, owner, member, viewer, outsider } = await staffedTeam();
    const ownersTask = await startTask(owner, teamId, LONG_TASK);
    const membersTask = await startTask(member, teamId);

    expect(expectOk(await owner.api.get(`/v1/agents/tasks/${membersTask}`))).toMatchObject({ task_id: membersTask, team_id: teamId });
    expect(expectOk(await viewer.api.get(`/v1/agents/tasks/${membersTask}`)).team_id).toBe(teamId);
    expect(expectOk(await member.api.delete(`/v1/agents/tasks/${ownersTask}`))).toEqual({ success: true, task_id: ownersTask, status: 'cancelled' });
    expect(expectOk(await owner.api.get(`/v1/agents/tasks/${ownersTask}`)).status).toBe('cancelled');

    expectError(await member.api.post(membersPath(teamId), { user_id: outsider.userId, role: 'viewer' }), 403, 'permission_denied');
    expectError(await member.api.patch(membersPath(teamId, viewer.userId), { role: 'member' }), 403, 'permission_denied');
    expectError(await member.api.patch(teamPath(teamId), { name: 'Member was here' }), 403, 'permission_denied');
    expectError(await member.api.delete(teamPath(teamId)), 403, 'permission_denied');
    expect((await storedRoles(teamId))[viewer.userId]).toBe('viewer');
    expect(expectOk(await owner.api.get(teamPath(teamId))).name).toBe('Platform');
  });

  it('admin: manages non-owners and renames, but may not touch owners or delete', async () => {
    const { teamId, owner, admin, member, viewer, outsider } = await staffedTeam();
    const extra = await newUser('Extra');

    expect(await addMember(admin, teamId, outsider, 'admin')).toMatchObject({ user_id: outsider.userId, role: 'admin' });
    expectError(await admin.api.post(membersPath(teamId), { user_id: extra.userId, role: 'owner' }), 403, 'permission_denied');
    expect(expectOk(await admin.api.patch(membersPath(teamId, viewer.userId), { role: 'member' })).role).toBe('member');
    expectError(await admin.api.patch(membersPath(teamId, member.userId), { role: 'owner' }), 403, 'permission_denied');
    expectError(await admin.api.patch(membersPath(teamId, admin.userId), { role: 'owner' }), 403, 'permission_denied');
    expectError(await admin.api.patch(membersPath(teamId, owner.userId), { role: 'admin' }), 403, 'permission_denied');
    expectError(await admin.api.delete(membersPath(teamId, owner.userId)), 403, 'permission_denied');
    expect(expectOk(await admin.api.delete(membersPath(teamId, member.userId))).removed).toBe(true);
    expect(expectOk(await admin.api.patch(teamPath(teamId), { name: 'Renamed by admin' })).name).toBe('Renamed by admin');
    expectError(await admin.api.delete(teamPath(teamId)), 403, 'permission_denied');

    expect(await storedRoles(teamId)).toEqual({ [owner.userId]: 'owner', [admin.userId]: 'admin', [viewer.userId]: 'member', [outsider.userId]: 'admin' });
  });

  it('owner: adds and demotes owners, removes an admin, and deletes the team', async () => {
    const { teamId, owner, admin, outsider } = await staffedTeam();
    expect(await addMember(owner, teamId, outsider, 'owner')).toMatchObject({ role: 'owner' });
    expect(expectOk(await owner.api.patch(membersPath(teamId, outsider.userId), { role: 'member' })).role).toBe('member');
    expect(expectOk(await owner.api.patch(membersPath(teamId, admin.userId), { role: 'owner' })).role).toBe('owner');
    // A second owner can remove the first.
    expect(expectOk(await admin.api.delete(membersPath(teamId, owner.userId)))).toEqual({ user_id: owner.userId, role: 'owner', removed: true });
    expectError(await owner.api.delete(teamPath(teamId)), 404, 'resource_not_found');
    expect(expectOk(await admin.api.delete(teamPath(teamId))).deleted).toBe(true);
  });
});

describe('an outsider', () => {
  it('gets 404 for the team and its tasks, in REST and GraphQL, and changes nothing', async () => {
    const { teamId, owner, member, outsider } = await staffedTeam();
    const taskId = await startTask(owner, teamId, LONG_TASK);
    const eventsBefore = (await teamEvents(teamId)).length;

    for (const res of [
      await outsider.api.get(teamPath(teamId)),
      await outsider.api.get(`/v1/agents/tasks/${taskId}`),
      await outsider.api.get(`/v1/agents/tasks?team_id=${teamId}`),
      await outsider.api.delete(`/v1/agents/tasks/${taskId}`),
      await outsider.api.post('/v1/agents/execute', executeBody([vulnerableJs], { team_id: teamId })),
      await outsider.api.patch(teamPath(teamId), { name: 'Mine now' }),
      await outsider.api.delete(teamPath(teamId)),
      await outsider.api.post(membersPath(teamId), { user_id: outsider.userId, role: 'owner' }),
      await outsider.api.patch(membersPath(teamId, member.userId), { role: 'viewer' }),
      await outsider.api.delete(membersPath(teamId, member.userId)),
    ]) {
      expectError(res, 404, 'resource_not_found');
      expect(JSON.stringify(res.body)).not.toContain('Platform');
    }

    for (const query of [`query($id: ID!) { node(id: $id) { id } }`, `query($id: ID!) { team(id: $id) { id name } }`, `mutation($id: ID!) { deleteTeam(id: $id) { team { id } } }`]) {
      const res = await graphql(sys.url, outsider.apiKey, query, { id: teamId });
      expect(gqlError(res), query).toBe('RESOURCE_NOT_FOUND');
      expect(JSON.stringify(res.body.data ?? null)).not.toContain('Platform');
    }
    const teams = await graphql(sys.url, outsider.apiKey, '{ teams(first: 10) { edges { node { id } } } }');
    expect(teams.body.data.teams.edges).toEqual([]);

    expect((await storedRoles(teamId))[outsider.userId]).toBeUndefined();
    expect(await sys.services.db.agentTask.count({ where: { teamId } })).toBe(1);
    expect(expectOk(await owner.api.get(`/v1/agents/tasks/${taskId}`)).status).not.toBe('cancelled');
    expect((await teamEvents(teamId)).length).toBe(eventsBefore);
    expectOk(await owner.api.delete(`/v1/agents/tasks/${taskId}`));
  });
});

describe('the last owner', () => {
  it('cannot leave or be demoted (409 last_owner) until another owner exists', async () => {
    const { teamId, owner, admin } = await staffedTeam();
    expectError(await owner.api.delete(membersPath(teamId, owner.userId)), 409, 'last_owner');
    expectError(await owner.api.patch(membersPath(teamId, owner.userId), { role: 'admin' }), 409, 'last_owner');
    expect((await storedRoles(teamId))[owner.userId]).toBe('owner');

    expectOk(await owner.api.patch(membersPath(teamId, admin.userId), { role: 'owner' }));
    expect(expectOk(await owner.api.delete(membersPath(teamId, owner.userId)))).toEqual({ user_id: owner.userId, role: 'owner', removed: true });
    expectError(await owner.api.get(teamPath(teamId)), 404, 'resource_not_found');
    // Now the promoted admin is the last owner.
    expectError(await admin.api.delete(membersPath(teamId, admin.userId)), 409, 'last_owner');
    expect(Object.values(await storedRoles(teamId)).filter((r) => r === 'owner')).toEqual(['owner']);
  });

  it('keeps one owner when two owners leave at the same time', async () => {
    const { teamId, owner, admin } = await staffedTeam();
    expectOk(await owner.api.patch(membersPath(teamId, admin.userId), { role: 'owner' }));
    const results = await Promise.all([owner.api.delete(membersPath(teamId, owner.userId)), admin.api.delete(membersPath(teamId, admin.userId))]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    expect(Object.values(await storedRoles(teamId)).filter((r) => r === 'owner')).toHaveLength(1);
  });
});

describe('concurrent changes', () => {
  /** Sends the requests at once and counts the answers by status, e.g. { 200: 1, 404: 3 }. */
  async function race(requests: Array<() => Promise<HttpResult>>) {
    const results = await Promise.all(requests.map((send) => send()));
    const tally: Record<number, number> = {};
    for (const { status } of results) tally[status] = (tally[status] ?? 0) + 1;
    return tally;
  }

  it('invites an account once when it is invited several times at once: one 202, the rest 409 invitation_exists', async () => {
    const { teamId, owner, admin } = await staffedTeam();
    // A few rounds, each with a new account, so the race is likely to be hit at least once.
    for (let round = 0; round < 4; round++) {
      const newcomer = await newUser(`Newcomer ${round}`);
      const add = (by: Actor) => () => by.api.post(membersPath(teamId), { user_id: newcomer.userId, role: 'viewer' });
      expect(await race([owner, admin, owner, admin, owner, admin, owner, admin].map(add)), `round ${round}`).toEqual({ 202: 1, 409: 7 });
      const [invitation] = expectOk(await owner.api.get(`/v1/teams/${teamId}/invitations`)).data.filter((i: any) => i.user_id === newcomer.userId);
      const accept = () => newcomer.api.post(`/v1/invitations/${invitation.id}/accept`, {});
      expect(await race([accept, accept, accept]), `round ${round}`).toEqual({ 200: 1, 409: 2 });
      expect((await storedRoles(teamId))[newcomer.userId]).toBe('viewer');
      const added = (await teamEvents(teamId)).filter((e) => e.type === 'team.member_added' && (e.data as any).user_id === newcomer.userId);
      expect(added).toHaveLength(1);
    }
  });

  it('removes a member once when several admins remove them at once: one 200, the rest 404', async () => {
    const { teamId, owner, admin, member } = await staffedTeam();
    const remove = (by: Actor) => () => by.api.delete(membersPath(teamId, member.userId));
    expect(await race([owner, admin, owner, admin].map(remove))).toEqual({ 200: 1, 404: 3 });
    expect((await storedRoles(teamId))[member.userId]).toBeUndefined();
    expect((await teamEvents(teamId)).filter((e) => e.type === 'team.member_removed')).toHaveLength(1);
  });
});

describe('bad input', () => {
  it('refuses bad team names and unknown fields with 422, creating nothing', async () => {
    const owner = await newUser('Validator');
    for (const body of [{ name: '' }, { name: '   ' }, { name: 'x'.repeat(101) }, {}, { name: 'Ok', colour: 'red' }, { name: 42 }]) {
      const res = await owner.api.post('/v1/teams', body);
      expectError(res, 422, 'validation_error');
      expect(res.body.error.details, JSON.stringify(body)).toEqual(expect.arrayContaining([expect.objectContaining({ field: expect.any(String), message: expect.any(String) })]));
    }
    const tooLong = await owner.api.post('/v1/teams', { name: 'x'.repeat(101) });
    expect(tooLong.body.error.details).toEqual([{ field: 'name', message: 'must be 1 to 100 characters' }]);
    expect(await sys.services.db.teamMember.count({ where: { userId: owner.userId } })).toBe(0);
    // 100 characters is the limit, not past it.
    expect((await createTeam(owner, 'y'.repeat(100))).name).toHaveLength(100);
  });

  it('refuses bad renames with 422, keeping the name', async () => {
    const { teamId, owner } = await staffedTeam();
    for (const body of [{ name: '' }, { name: 'x'.repeat(101) }, { name: 'Ok', extra: true }]) {
      expectError(await owner.api.patch(teamPath(teamId), body), 422, 'validation_error');
    }
    expect(expectOk(await owner.api.get(teamPath(teamId))).name).toBe('Platform');
  });

  it('refuses bad member requests with 422 or 404, changing neither members nor events', async () => {
    const { teamId, owner, member, outsider } = await staffedTeam();
    await newUser('Has email', { email: 'has.email@teams.test' });
    const rolesBefore = await storedRoles(teamId);
    const eventsBefore = await teamEvents(teamId);
    const add = (body: unknown) => () => owner.api.post(membersPath(teamId), body);
    const patch = (userId: string, body: unknown) => () => owner.api.patch(membersPath(teamId, userId), body);
    const remove = (userId: string) => () => owner.api.delete(membersPath(teamId, userId));

    const cases: Array<[() => Promise<HttpResult>, number, string]> = [
      [add({ user_id: outsider.userId, role: 'superuser' }), 422, 'validation_error'],
      [add({ user_id: outsider.userId }), 422, 'validation_error'],
      [add({ user_id: outsider.userId, role: 'viewer', nickname: 'x' }), 422, 'validation_error'],
      [add({ user_id: outsider.userId, email: 'has.email@teams.test', role: 'viewer' }), 422, 'validation_error'],
      [add({ role: 'viewer' }), 422, 'validation_error'],
      [add({ user_id: 'not-a-user-id', role: 'viewer' }), 422, 'validation_error'],
      [add({ email: 'not an address', role: 'viewer' }), 422, 'validation_error'],
      [patch(member.userId, { role: 'boss' }), 422, 'validation_error'],
      [patch(member.userId, { role: 'viewer', why: 'x' }), 422, 'validation_error'],
      [patch(outsider.userId, { role: 'viewer' }), 404, 'resource_not_found'],
      [remove(outsider.userId), 404, 'resource_not_found'],
      [remove('nobody'), 404, 'resource_not_found'],
    ];
    for (const [request, status, code] of cases) expectError(await request(), status, code);

    const unknownRole = await add({ user_id: outsider.userId, role: 'superuser' })();
    expect(unknownRole.body.error.details).toEqual([expect.objectContaining({ field: 'role' })]);

    expect(await storedRoles(teamId)).toEqual(rolesBefore);
    expect(await teamEvents(teamId)).toEqual(eventsBefore);
    expect(await sys.services.db.teamInvitation.count({ where: { teamId, status: 'pending' } })).toBe(0);
  });

  it('answers 404 for malformed and unknown team ids', async () => {
    const owner = await newUser('Prober');
    const other = await newUser('Other');
    for (const id of ['nope', 'team_123', 'task_00000000-0000-7000-8000-000000000000', 'team_00000000-0000-7000-8000-000000000000']) {
      expectError(await owner.api.get(teamPath(id)), 404, 'resource_not_found');
      expectError(await owner.api.post(membersPath(id), { user_id: other.userId, role: 'viewer' }), 404, 'resource_not_found');
      expectError(await owner.api.get(`/v1/agents/tasks?team_id=${id}`), 404, 'resource_not_found');
    }
    expect(gqlError(await graphql(sys.url, owner.apiKey, `{ node(id: "team_00000000-0000-7000-8000-000000000000") { id } }`))).toBe('RESOURCE_NOT_FOUND');
    expect(await sys.services.db.teamMember.count({ where: { userId: other.userId } })).toBe(0);
  });

  it('answers RESOURCE_NOT_FOUND, not an internal error, for node(id:) with a malformed team id', async () => {
    const prober = await newUser('Node prober');
    for (const id of ['team_123', 'nope']) {
      const res = await graphql(sys.url, prober.apiKey, `query($id: ID!) { node(id: $id) { id } }`, { id });
      expect(gqlError(res), id).toBe('RESOURCE_NOT_FOUND');
    }
  });
});

describe('invitations', () => {
  const invite = (by: Actor, teamId: string, body: Record<string, unknown>) => by.api.post(membersPath(teamId), body);
  const accept = (who: Actor, id: string) => who.api.post(`/v1/invitations/${id}/accept`, {});
  const decline = (who: Actor, id: string) => who.api.post(`/v1/invitations/${id}/decline`, {});
  /** What an answer says, without what differs between any two invitations. */
  const shape = (res: HttpResult) => ({ status: res.status, keys: Object.keys(res.body).sort(), role: res.body.role, state: res.body.status });

  it('answer the same whether an account exists behind the address, and show nothing of the invitee before they accept', async () => {
    const owner = await newUser('Prober owner');
    const target = await newUser('Target', { email: 'target@invites.test' });
    const { id: teamId } = await createTeam(owner, 'Probe');
    const existing = await invite(owner, teamId, { email: 'target@invites.test', role: 'viewer' });
    const missing = await invite(owner, teamId, { email: 'nobody-here@invites.test', role: 'viewer' });
    const existingById = await invite(owner, teamId, { user_id: (await newUser('By id target')).userId, role: 'viewer' });
    const missingById = await invite(owner, teamId, { user_id: 'user_00000000-0000-7000-8000-000000000000', role: 'viewer' });
    expect(shape(existing)).toEqual(shape(missing));
    expect(shape(existingById)).toEqual(shape(missingById));
    expect(existing.status).toBe(202);
    for (const res of [existing, existingById]) expect(JSON.stringify(res.body)).not.toMatch(/Target|By id target|tier/);

    // Not a member, so neither the team nor node(id:) shows their profile.
    expect(expectOk(await owner.api.get(teamPath(teamId))).members.map((m: any) => m.user_id)).toEqual([owner.userId]);
    const node = await graphql(sys.url, owner.apiKey, `query($id: ID!) { node(id: $id) { ... on User { name email tier } } }`, { id: target.userId });
    expect(gqlError(node)).toBe('RESOURCE_NOT_FOUND');
    expect(await storedRoles(teamId)).toEqual({ [owner.userId]: 'owner' });

    // The invitee hears of it (a stored notification; also an e-mail when SMTP is set).
    const notes = await sys.services.db.notification.findMany({ where: { userId: target.userId, type: 'team.invitation' } });
    expect(notes.map((n) => (n.data as any).invitation_id)).toEqual([existing.body.id]);
    // Once they accept, they are a member the owner can see.
    expectOk(await accept(target, existing.body.id));
    const read = expectOk(await graphql(sys.url, owner.apiKey, `query($id: ID!) { node(id: $id) { ... on User { name } } }`, { id: target.userId }));
    expect(read.data.node).toEqual({ name: 'Target' });
  });

  it('are listed for the invitee and can be declined, after which they cannot be accepted', async () => {
    const owner = await newUser('Decline owner');
    const invitee = await newUser('Decliner', { email: 'decliner@invites.test' });
    const { id: teamId } = await createTeam(owner, 'Declined');
    const invitation = expectOk(await invite(owner, teamId, { email: 'Decliner@invites.test', role: 'member' }), 202);
    expect(expectOk(await invitee.api.get('/v1/invitations')).data.map((i: any) => [i.id, i.team_name, i.role])).toEqual([[invitation.id, 'Declined', 'member']]);
    expect(expectOk(await owner.api.get(`/v1/teams/${teamId}/invitations`)).data.map((i: any) => i.id)).toEqual([invitation.id]);

    expect(expectOk(await decline(invitee, invitation.id)).status).toBe('declined');
    expectError(await accept(invitee, invitation.id), 409, 'invitation_not_pending');
    expect(expectOk(await invitee.api.get('/v1/invitations')).data).toEqual([]);
    expect(await storedRoles(teamId)).toEqual({ [owner.userId]: 'owner' });
  });

  it("are not found for anyone else: accepting or declining another person's invitation answers 404", async () => {
    const owner = await newUser('Other owner');
    const [invitee, stranger] = await Promise.all([newUser('Rightful', { email: 'rightful@invites.test' }), newUser('Stranger', { email: 'stranger@invites.test' })]);
    const { id: teamId } = await createTeam(owner, 'Private');
    const byEmail = expectOk(await invite(owner, teamId, { email: 'rightful@invites.test', role: 'viewer' }), 202);
    const byId = expectOk(await invite(owner, teamId, { user_id: invitee.userId, role: 'viewer' }), 202);
    for (const id of [byEmail.id, byId.id, 'inv_00000000-0000-7000-8000-000000000000', 'nope']) {
      expectError(await accept(stranger, id), 404, 'resource_not_found');
      expectError(await decline(stranger, id), 404, 'resource_not_found');
      // Not even the inviter can accept on the invitee's behalf.
      expectError(await accept(owner, id), 404, 'resource_not_found');
    }
    expect(expectOk(await stranger.api.get('/v1/invitations')).data).toEqual([]);
    expect(await storedRoles(teamId)).toEqual({ [owner.userId]: 'owner' });
    expect(await sys.services.db.teamInvitation.count({ where: { teamId, status: 'pending' } })).toBe(2);
  });

  it('expire: an expired invitation answers 410 invitation_expired and is no longer listed', async () => {
    const owner = await newUser('Expiry owner');
    const invitee = await newUser('Late', { email: 'late@invites.test' });
    const { id: teamId } = await createTeam(owner, 'Expiring');
    const invitation = expectOk(await invite(owner, teamId, { email: 'late@invites.test', role: 'viewer' }), 202);
    expect(Date.parse(invitation.expires_at) - Date.parse(invitation.created_at)).toBe(7 * 86_400_000);
    await sys.services.db.teamInvitation.update({ where: { id: invitation.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    expectError(await accept(invitee, invitation.id), 410, 'invitation_expired');
    expect(expectOk(await invitee.api.get('/v1/invitations')).data).toEqual([]);
    expect(await storedRoles(teamId)).toEqual({ [owner.userId]: 'owner' });
    // A new invitation can be sent once the old one expired.
    expectOk(await invite(owner, teamId, { email: 'late@invites.test', role: 'viewer' }), 202);
  });

  it('can be withdrawn by an admin; a withdrawn invitation cannot be accepted', async () => {
    const { teamId, owner, admin, viewer } = await staffedTeam();
    const invitee = await newUser('Withdrawn');
    const invitation = expectOk(await invite(owner, teamId, { user_id: invitee.userId, role: 'viewer' }), 202);
    expectError(await viewer.api.get(`/v1/teams/${teamId}/invitations`), 403, 'permission_denied');
    expectError(await viewer.api.delete(`/v1/teams/${teamId}/invitations/${invitation.id}`), 403, 'permission_denied');
    expectError(await invite(admin, teamId, { user_id: invitee.userId, role: 'owner' }), 403, 'permission_denied');
    expect(expectOk(await admin.api.delete(`/v1/teams/${teamId}/invitations/${invitation.id}`)).status).toBe('revoked');
    expectError(await accept(invitee, invitation.id), 409, 'invitation_not_pending');
    expect((await storedRoles(teamId))[invitee.userId]).toBeUndefined();
  });
});

describe('membership events', () => {
  it('stores each change on the team stream, in order, and nothing for a no-op or a refusal', async () => {
    const owner = await newUser('Eventful');
    const [ann, bob] = await Promise.all([newUser('Ann'), newUser('Bob', { email: 'bob@teams.test' })]);
    const team = await createTeam(owner);
    await addMember(owner, team.id, ann, 'member');
    const toBob = expectOk(await owner.api.post(membersPath(team.id), { email: 'bob@teams.test', role: 'viewer' }), 202);
    expectOk(await bob.api.post(`/v1/invitations/${toBob.id}/accept`, {}));
    expectOk(await owner.api.patch(membersPath(team.id, ann.userId), { role: 'admin' }));
    expectOk(await owner.api.patch(membersPath(team.id, ann.userId), { role: 'admin' })); // no change
    expectError(await owner.api.post(membersPath(team.id), { user_id: ann.userId, role: 'viewer' }), 409, 'member_exists');
    expectError(await owner.api.delete(membersPath(team.id, owner.userId)), 409, 'last_owner');
    expectOk(await ann.api.delete(membersPath(team.id, bob.userId)));

    const events = await teamEvents(team.id);
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(events.map((e) => [e.type, e.data])).toEqual([
      ['team.member_added', { team_id: team.id, user_id: owner.userId, role: 'owner' }],
      ['team.member_added', { team_id: team.id, user_id: ann.userId, role: 'member', by: owner.userId, invitation_id: expect.stringMatching(/^inv_/) }],
      ['team.member_added', { team_id: team.id, user_id: bob.userId, role: 'viewer', by: owner.userId, invitation_id: toBob.id }],
      ['team.member_role_changed', { team_id: team.id, user_id: ann.userId, role: 'admin', previous_role: 'member', by: owner.userId }],
      ['team.member_removed', { team_id: team.id, user_id: bob.userId, role: 'viewer', by: ann.userId }],
    ]);
  });
});

describe('team tasks', () => {
  it("keeps a member's personal tasks private from the team, and team tasks out of personal lists", async () => {
    const { teamId, owner, member } = await staffedTeam();
    const personal = await startTask(member);
    const shared = await startTask(member, teamId);

    expectError(await owner.api.get(`/v1/agents/tasks/${personal}`), 404, 'resource_not_found');
    expectError(await owner.api.delete(`/v1/agents/tasks/${personal}`), 404, 'resource_not_found');
    expect(expectOk(await member.api.get(`/v1/agents/tasks/${personal}`)).team_id).toBeNull();

    const teamList = expectOk(await owner.api.get(`/v1/agents/tasks?team_id=${teamId}`)).data.map((t: any) => t.task_id);
    expect(teamList).toEqual([shared]);
    const personalList = expectOk(await member.api.get('/v1/agents/tasks')).data.map((t: any) => t.task_id);
    expect(personalList).toEqual([personal]);
    expect(expectOk(await owner.api.get('/v1/agents/tasks')).data).toEqual([]);
  });

  it('refuses to delete a team with a running task (409), and deletes it once the task is cancelled', async () => {
    const { teamId, owner, member } = await staffedTeam();
    const taskId = await startTask(member, teamId, LONG_TASK);

    const refused = await owner.api.delete(teamPath(teamId));
    expectError(refused, 409, 'team_has_active_tasks');
    expect(expectOk(await owner.api.get(teamPath(teamId))).members).toHaveLength(4);
    expect(['queued', 'running']).toContain(expectOk(await member.api.get(`/v1/agents/tasks/${taskId}`)).status);

    expectOk(await member.api.delete(`/v1/agents/tasks/${taskId}`));
    expect(expectOk(await owner.api.delete(teamPath(teamId)))).toEqual({ id: teamId, object: 'team', deleted: true });
    expectError(await member.api.get(`/v1/agents/tasks/${taskId}`), 404, 'resource_not_found');
    expect(await sys.services.db.agentTask.count({ where: { teamId } })).toBe(0);
  });
});

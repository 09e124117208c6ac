/**
 * N+1 guard: the SQL statements a list page costs must not grow with the page. Each list is read
 * with every per-item field the dashboards and REST ask for, at 1 item and at 100 (50 for reviews,
 * their page maximum), on a Prisma client that counts the statements it sends.
 */
import { PrismaPg } from '@prisma/adapter-pg';
import { execute, parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schema } from '../../schema/index.js';
import { contextFor } from '../../src/context.js';
import { PrismaClient } from '../../src/generated/prisma/client.js';
import { newId } from '../../src/ids.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

/** A Prisma client that emits an event per SQL statement. */
const countingClient = (url: string) => new PrismaClient({ adapter: new PrismaPg({ connectionString: url }), log: [{ emit: 'event', level: 'query' }] });

let sys: TestSystem;
let counted: ReturnType<typeof countingClient>;
let statements = 0;

beforeAll(async () => {
  sys = await startTestSystem({ worker: false });
  counted = countingClient(sys.database.url);
  counted.$on('query', () => statements++);
});

afterAll(async () => {
  await counted?.$disconnect();
  await sys?.close();
});

/** Runs `query` as `apiKey`'s caller on the counting client; returns the data and the statements it took. */
async function measure(apiKey: string, query: string, variables: Record<string, unknown>) {
  const principal = await sys.services.auth.authenticate(apiKey, null);
  const context = contextFor({ ...sys.services, db: counted }, { headers: {} }, principal);
  statements = 0;
  const result = await execute({ schema, document: parse(query), contextValue: context, variableValues: variables });
  expect(result.errors).toBeUndefined();
  return { data: result.data as any, statements };
}

/** A user owning `count` of something (made by `seed`); returns the statements of one page of `count`. */
async function statementsFor(count: number, seed: (userId: string) => Promise<Record<string, unknown>>, query: string, pageOf: (data: any) => unknown[]) {
  const { userId, apiKey } = await sys.createUser(`Lister of ${count}`, { tier: 'free' });
  const variables = await seed(userId);
  const { data, statements: n } = await measure(apiKey, query, { first: count, ...variables });
  expect(pageOf(data)).toHaveLength(count);
  return n;
}

describe('SQL statements per list page', () => {
  it('tasks: queue position, reason and the rest cost the same for 1 and 100 queued tasks', async () => {
    const seed = (count: number) => async (userId: string) => {
      await sys.services.db.agentTask.createMany({
        data: Array.from({ length: count }, (_, i) => ({
          id: newId('task'),
          ownerId: userId,
          agentType: 'security_expert',
          prompt: `task ${i}`,
          input: { context: { files: [] } },
          timeoutSeconds: 60,
          estimatedDurationSeconds: 1,
        })),
      });
      return {};
    };
    const query = `query ($first: Int) { tasks(first: $first) { edges { node { id status queuePosition progress createdAt tokensUsed { total } result { summary } error { code } } } } }`;
    const pageOf = (d: any) => d.tasks.edges;
    const one = await statementsFor(1, seed(1), query, pageOf);
    const hundred = await statementsFor(100, seed(100), query, pageOf);
    console.info(`tasks list: ${one} statements for 1 task, ${hundred} for 100`);
    expect(hundred).toBe(one);
  });

  it('tasks: the batched queue positions are the places in line (free plan: one slot)', async () => {
    const { userId, apiKey } = await sys.createUser('Queue', { tier: 'free' });
    const ids = [newId('task'), newId('task'), newId('task')];
    await sys.services.db.agentTask.createMany({
      data: ids.map((id, i) => ({ id, ownerId: userId, agentType: 'security_expert', prompt: `t${i}`, input: {}, timeoutSeconds: 60, estimatedDurationSeconds: 1, slotTaken: i === 0 })),
    });
    const { data } = await measure(apiKey, `query { tasks(first: 10) { edges { node { id queuePosition } } } }`, {});
    const positions = Object.fromEntries(data.tasks.edges.map((e: any) => [e.node.id, e.node.queuePosition]));
    // The first holds the only slot; the second waits first in line, the third second.
    expect(positions).toEqual({ [ids[0]]: null, [ids[1]]: 1, [ids[2]]: 2 });
  });

  it('teams: members, their users and your role cost the same for 1 and 100 teams', async () => {
    const seed = (count: number) => async (userId: string) => {
      const other = await sys.createUser('Member');
      for (let i = 0; i < count; i++) {
        await sys.services.db.team.create({
          data: { id: newId('team'), name: `Team ${i}`, members: { create: [{ userId, role: 'owner' }, { userId: other.userId, role: 'viewer' }] } },
        });
      }
      return {};
    };
    const query = `query ($first: Int) { teams(first: $first) { edges { node { id name viewerRole members { role user { id name } } } } } }`;
    const pageOf = (d: any) => d.teams.edges;
    const one = await statementsFor(1, seed(1), query, pageOf);
    const hundred = await statementsFor(100, seed(100), query, pageOf);
    console.info(`teams list: ${one} statements for 1 team, ${hundred} for 100`);
    expect(hundred).toBe(one);
  });

  it('reviews: issues (filtered two ways), SARIF and counts cost the same for 1 and 50 reviews', async () => {
    const seed = (count: number) => async (userId: string) => {
      for (let i = 0; i < count; i++) {
        const id = newId('review');
        await sys.services.db.review.create({ data: { id, ownerId: userId, mode: 'file', input: {}, status: 'completed' } });
        await sys.services.db.reviewIssue.createMany({
          data: ['high', 'low'].map((severity, n) => ({
            id: `${id}-i${n}`,
            reviewId: id,
            path: 'a.ts',
            startLine: 1,
            endLine: 1,
            severity,
            category: 'bug',
            ruleId: 'r',
            title: 't',
            message: 'm',
            suggestedFix: '',
            confidence: 0.9,
          })),
        });
      }
      return {};
    };
    const query = `query ($first: Int) { reviews(first: $first) { edges { node { id issueCount issues { severity } high: issues(severities: ["high"]) { id } sarif } } } }`;
    const pageOf = (d: any) => d.reviews.edges;
    const one = await statementsFor(1, seed(1), query, pageOf);
    const fifty = await statementsFor(50, seed(50), query, pageOf);
    console.info(`reviews list: ${one} statements for 1 review, ${fifty} for 50`);
    expect(fifty).toBe(one);
  });

  it('webhook deliveries: event type and attempts cost the same for 1 and 100 deliveries', async () => {
    const seed = (count: number) => async (userId: string) => {
      const projectId = newId('project');
      const webhookId = newId('webhook');
      await sys.services.db.project.create({ data: { id: projectId, ownerId: userId, name: 'P' } });
      await sys.services.db.webhook.create({ data: { id: webhookId, projectId, createdById: userId, url: 'https://example.com/hook', secretEncrypted: 'unused' } });
      for (let i = 0; i < count; i++) {
        const eventId = newId('webhookEvent');
        await sys.services.db.webhookEvent.create({ data: { id: eventId, type: 'task.completed', resourceId: 'task_x', data: {} } });
        const deliveryId = newId('webhookDelivery');
        await sys.services.db.webhookDelivery.create({ data: { id: deliveryId, webhookId, eventId } });
        await sys.services.db.webhookAttempt.create({ data: { deliveryId, number: 1, startedAt: new Date(), latencyMs: 5, succeeded: true } });
      }
      return { id: webhookId };
    };
    const query = `query ($id: ID!, $first: Int) { webhook(id: $id) { deliveries(first: $first) { edges { node { id eventType status attempts { number succeeded } } } } } }`;
    const pageOf = (d: any) => d.webhook.deliveries.edges;
    const one = await statementsFor(1, seed(1), query, pageOf);
    const hundred = await statementsFor(100, seed(100), query, pageOf);
    console.info(`webhook deliveries list: ${one} statements for 1 delivery, ${hundred} for 100`);
    expect(hundred).toBe(one);
  });
});

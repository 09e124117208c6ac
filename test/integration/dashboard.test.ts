/**
 * The dashboard and the GraphQL explorer in headless Chromium (playwright-core with the system's
 * Chromium), against a real gateway and worker: sign-in both ways, a task appearing and finishing
 * live in the list and its detail page, cancelling, a key's secret shown once, a webhook delivery
 * redelivered, a subscription run in the explorer, and the phone width. Every page fails its test
 * on a console error, an uncaught error, a failed request or a request to another origin; each test
 * leaves a screenshot in .test-results/screenshots/ (kept by CI as an artifact).
 */
import { mkdirSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql, restClient, waitFor } from '../helpers/client.js';
import { executeBody, manyFiles } from '../helpers/fixtures.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';
import { newId } from '../../src/ids.js';

const SHOTS = new URL('../../.test-results/screenshots/', import.meta.url).pathname;
const PASSWORD = 'correct horse battery staple';
/** Tests that wait for tasks to run and finish: generous, for a busy machine. */
const LIVE_TEST_MS = 120_000;

let sys: TestSystem;
let browser: Browser;
let receiver: Server;
let receiverPort = 0;
const received: string[] = [];
let user: { userId: string; apiKey: string; email: string };

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  receiver = createHttpServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push(body);
      res.writeHead(200, { 'content-type': 'text/plain' }).end('received by the test');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.2', r));
  receiverPort = (receiver.address() as AddressInfo).port;
  sys = await startTestSystem({
    env: { AGENT_STEP_DELAY_MS: '100', WEBHOOK_ALLOW_HTTP: 'true', WEBHOOK_ALLOWED_PRIVATE_CIDRS: '127.0.0.2/32' },
  });
  const email = `dash-${newId('project').slice(-8).toLowerCase()}@example.com`;
  user = { ...(await sys.createUser('Dana Dashboard', { email, password: PASSWORD, tier: 'pro' })), email };
  // One agent at a time, so a second task waits in the queue; the pages poll, so the request budget is raised.
  await sys.services.db.accountLimits.create({ data: { userId: user.userId, parallelAgents: 1, requestsPerMinute: 100_000, requestsPerHour: 100_000 } });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await sys?.close();
  await new Promise((r) => receiver?.close(r));
});

/** A page that records every console error, page error, failed request and request to another origin. */
async function openPage(width = 1280, height = 800, init?: Record<string, string>) {
  const page = await browser.newPage({ viewport: { width, height } });
  const problems: string[] = [];
  /** The name of each GraphQL operation the page sent over HTTP, in order. */
  const operations: string[] = [];
  const origin = new URL(sys.url).origin;
  page.on('request', (r) => {
    if (r.method() !== 'POST' || !r.url().endsWith('/graphql')) return;
    operations.push(/^\s*(?:query|mutation)\s+(\w+)/.exec(String(JSON.parse(r.postData() ?? '{}').query))?.[1] ?? 'anonymous');
  });
  page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('request', (r) => {
    const url = r.url();
    if (!url.startsWith(origin) && !url.startsWith('data:') && !url.startsWith('blob:')) problems.push(`external request: ${url}`);
  });
  page.on('websocket', (ws) => {
    if (!ws.url().startsWith(origin.replace(/^http/, 'ws'))) problems.push(`external socket: ${ws.url()}`);
  });
  if (init) await page.addInitScript((items) => Object.entries(items).forEach(([k, v]) => (globalThis as any).sessionStorage.setItem(k, v)), init);
  return {
    page,
    operations,
    /** Saves the screenshot, checks that nothing went wrong, and closes the page. */
    async finish(name: string) {
      await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
      const seen = [...problems];
      // Closing aborts the open poll and sockets: that is not the page's fault.
      problems.length = 0;
      page.removeAllListeners('requestfailed');
      await page.close();
      expect(seen).toEqual([]);
    },
  };
}

async function signInWithKey(page: Page, key = user.apiKey) {
  await page.goto(`${sys.url}/`);
  await page.getByRole('button', { name: 'API key' }).click();
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Runs' }).waitFor();
}

/** Waits until the Runs page follows taskUpdates (its socket is open). */
const live = (page: Page) => page.locator('[data-live="on"]').waitFor({ timeout: 15_000 });

async function submit(files = manyFiles(2), extra: Record<string, unknown> = {}) {
  const res = await restClient(sys.url, user.apiKey).post('/v1/agents/execute', executeBody(files, extra));
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.task_id as string;
}

const taskStatus = async (id: string) => (await restClient(sys.url, user.apiKey).get(`/v1/agents/tasks/${id}`)).body.status as string;
const completed = (id: string) => waitFor(async () => ((await taskStatus(id)) === 'completed' ? true : undefined), 60_000);
/** A tag no other test uses. */
const freshTag = (name: string) => `${name}-${newId('project').slice(-8).toLowerCase()}`;

/** The Runs page, live, filtered by `tag` once it shows `total` tasks. */
async function runsWithTag(tag: string, total: number) {
  const opened = await openPage();
  await signInWithKey(opened.page);
  await live(opened.page);
  await opened.page.getByLabel('Tag', { exact: true }).fill(tag);
  await opened.page.getByTestId('total').getByText(`${total} tasks`).waitFor({ timeout: 15_000 });
  return opened;
}

describe('serving', () => {
  it('serves the dashboard at / and /dashboard/*, its hashed assets for good, and a strict CSP', async () => {
    for (const path of ['/', '/dashboard/runs', '/dashboard/runs/task_x']) {
      const res = await fetch(`${sys.url}${path}`, { headers: { accept: 'text/html' } });
      expect(res.status).toBe(200);
      const csp = res.headers.get('content-security-policy')!;
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain(`ws://${new URL(sys.url).host}/graphql`);
      const html = await res.text();
      expect(html).toContain('<div id="root">');
      const asset = /src="(\/dashboard-assets\/assets\/[^"]+\.js)"/.exec(html)![1];
      const script = await fetch(`${sys.url}${asset}`);
      expect(script.status).toBe(200);
      expect(script.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    }
    expect((await fetch(`${sys.url}/dashboard-assets/assets/nothing-here.js`)).status).toBe(404);
  });

  it('answers a browser opening /graphql with the explorer; queries by GET and POST still execute', async () => {
    const browserAccept = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
    const page = await fetch(`${sys.url}/graphql`, { headers: { accept: browserAccept } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('id="graphiql"');
    const query = encodeURIComponent('{ viewer { name } }');
    const auth = { authorization: `Bearer ${user.apiKey}` };
    for (const accept of ['application/json', browserAccept]) {
      // Apollo's CSRF prevention asks a GET for a header no simple cross-site request can send.
      const res = await fetch(`${sys.url}/graphql?query=${query}`, { headers: { accept, 'apollo-require-preflight': 'true', ...auth } });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ data: { viewer: { name: 'Dana Dashboard' } } });
    }
    const post = await graphql(sys.url, user.apiKey, '{ viewer { name } }');
    expect(post.body).toMatchObject({ data: { viewer: { name: 'Dana Dashboard' } } });
    // A GET without a query that does not ask for HTML is Apollo's as before (no landing page).
    const bare = await fetch(`${sys.url}/graphql`, { headers: { accept: 'application/json' } });
    expect(bare.headers.get('content-type')).not.toContain('text/html');
  });
});

describe('in the browser', () => {
  it('signs in with e-mail and password', async () => {
    const opened = await openPage();
    const { page } = opened;
    const finish = (name: string) => opened.finish(name);
    await page.goto(`${sys.url}/dashboard/runs`);
    await page.getByLabel('E-mail').fill(user.email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Runs' }).waitFor();
    expect(await page.locator('.who').textContent()).toContain('Dana Dashboard');
    // The credential is the session's access token, kept for this tab only.
    expect(await page.evaluate(() => (globalThis as any).sessionStorage.getItem('dashboard.credential.kind'))).toBe('session');
    await finish('sign-in-password');
  });

  it('shows a task submitted from the API appear and complete live in the list and in its detail page', async () => {
    const opened = await openPage();
    const { page } = opened;
    const finish = (name: string) => opened.finish(name);
    await signInWithKey(page);
    await live(page);
    await page.evaluate(() => ((globalThis as any).notReloaded = true));
    // Nothing changes, so nothing is asked again: the list follows taskUpdates instead of polling.
    await new Promise((r) => setTimeout(r, 1_000));
    const listed = opened.operations.filter((o) => o === 'Runs').length;
    await new Promise((r) => setTimeout(r, 4_000));
    expect(opened.operations.filter((o) => o === 'Runs').length).toBe(listed);
    const first = await submit(manyFiles(3));
    const row = page.locator(`tr[data-task="${first}"]`);
    await row.waitFor({ timeout: 15_000 });
    await page.locator(`tr[data-task="${first}"][data-status="COMPLETED"]`).waitFor({ timeout: 60_000 });
    expect(await row.textContent()).toMatch(/\$\d/);

    // A longer task, followed on its detail page from before it ends.
    const second = await submit(manyFiles(30));
    await page.locator(`tr[data-task="${second}"] a`).click({ timeout: 15_000 });
    await page.getByRole('heading', { name: /^Task/ }).waitFor();
    expect(await taskStatus(second)).not.toBe('completed');
    await page.locator('[data-testid="task-status"] .badge-completed').waitFor({ timeout: 60_000 });
    const timeline = await page.locator('[data-testid="timeline"] li').allTextContents();
    expect(timeline.length).toBeGreaterThan(1);
    expect(timeline.at(-1)).toMatch(/completed/);
    expect(await page.evaluate(() => (globalThis as any).notReloaded)).toBe(true);
    await finish('run-detail-live');
  }, LIVE_TEST_MS);

  it('cancels a queued task from the list', async () => {
    const opened = await openPage();
    const { page } = opened;
    const finish = (name: string) => opened.finish(name);
    await signInWithKey(page);
    await live(page);
    const running = await submit(manyFiles(60));
    const queued = await submit(manyFiles(1));
    const row = page.locator(`tr[data-task="${queued}"][data-status="QUEUED"]`);
    await row.waitFor({ timeout: 15_000 });
    await row.getByRole('button', { name: 'Cancel' }).click();
    await page.locator(`tr[data-task="${queued}"][data-status="CANCELLED"]`).waitFor({ timeout: 15_000 });
    expect(await taskStatus(queued)).toBe('cancelled');
    await restClient(sys.url, user.apiKey).post(`/v1/agents/tasks/${running}/cancel`, {});
    await finish('runs-cancel');
  });

  it('filters by tag and shows the total and the count of each status, live', async () => {
    const tag = freshTag('filter');
    const tagged = [await submit(manyFiles(30), { tags: [tag, 'dashboard'] }), await submit(manyFiles(1), { tags: [tag] })];
    const other = await submit(manyFiles(1), { tags: ['dashboard'] });
    const opened = await runsWithTag(tag, 2);
    const { page } = opened;
    // The first runs a while and the second waits for it: the counts below move while the page watches.
    expect(await taskStatus(tagged[1])).not.toBe('completed');
    expect(await page.locator('tr[data-task]').count()).toBe(2);
    expect(await page.locator(`tr[data-task="${other}"]`).count()).toBe(0);
    expect(await page.locator(`tr[data-task="${tagged[0]}"] .tag`).allTextContents()).toEqual([tag, 'dashboard']);
    // The tasks finish while the page watches: the counts move without a reload.
    for (const id of tagged) await completed(id);
    await page.getByTestId('count-COMPLETED').getByText('2', { exact: true }).waitFor({ timeout: 15_000 });
    expect(await page.getByTestId('count-QUEUED').textContent()).toBe('0');
    // A status box narrows the list; the total follows.
    await page.getByRole('checkbox', { name: /^failed/ }).check();
    await page.getByTestId('total').getByText('0 tasks').waitFor();
    await page.getByRole('checkbox', { name: /^completed/ }).check();
    await page.getByTestId('total').getByText('2 tasks').waitFor();
    await opened.finish('runs-filter-tag');
  }, LIVE_TEST_MS);

  it('selects three runs and reruns them as one bulk operation, with its progress', async () => {
    const tag = freshTag('bulk');
    const originals = [];
    for (let i = 0; i < 3; i++) originals.push(await submit(manyFiles(1), { tags: [tag] }));
    for (const id of originals) await completed(id);
    const opened = await runsWithTag(tag, 3);
    const { page } = opened;
    for (const id of originals) await page.getByRole('checkbox', { name: `Select ${id}` }).check();
    await page.getByRole('button', { name: 'Rerun selected (3)' }).click();
    const bulk = page.locator('[data-testid="bulk"][data-status="COMPLETED"]');
    await bulk.waitFor({ timeout: 30_000 });
    expect(await bulk.textContent()).toContain('3 of 3 processed · 3 succeeded · 0 skipped · 0 failed');
    // The three new runs arrive over taskUpdates, tagged like their originals, and finish live.
    await page.getByTestId('total').getByText('6 tasks').waitFor({ timeout: 15_000 });
    const reruns = (await graphql(sys.url, user.apiKey, `query($tag: String!) { tasks(filter: { tags: [$tag] }, first: 10) { edges { node { id rerunOfId } } } }`, { tag })).body.data.tasks.edges
      .map((e: any) => e.node)
      .filter((t: any) => t.rerunOfId);
    expect(reruns.map((t: any) => t.rerunOfId).sort()).toEqual([...originals].sort());
    for (const t of reruns) await page.locator(`tr[data-task="${t.id}"][data-status="COMPLETED"]`).waitFor({ timeout: 60_000 });
    await opened.finish('runs-bulk-rerun');
  }, LIVE_TEST_MS);

  it('reruns a task from its detail page and opens the new run', async () => {
    const original = await submit(manyFiles(1), { tags: ['detail-rerun'], metadata: { ticket: 'ENG-1' } });
    await completed(original);
    const opened = await openPage();
    const { page } = opened;
    await signInWithKey(page);
    await page.locator(`tr[data-task="${original}"] a`).click({ timeout: 15_000 });
    await page.locator('[data-testid="task-status"] .badge-completed').waitFor({ timeout: 15_000 });
    expect(await page.getByTestId('metadata').textContent()).toContain('ENG-1');
    await page.getByRole('button', { name: 'Rerun', exact: true }).click();
    await page.getByText(`Rerun of ${original}`).waitFor({ timeout: 15_000 });
    expect(page.url()).not.toContain(original);
    await page.locator('[data-testid="task-status"] .badge-completed').waitFor({ timeout: 60_000 });
    await opened.finish('run-detail-rerun');
  }, LIVE_TEST_MS);

  it('lists visualizations, linking each to the viewer', async () => {
    const id = newId('visualization');
    await sys.services.db.visualization.create({
      data: { id, ownerId: user.userId, repositoryUrl: 'https://example.com/listed.git', analysisDepth: 'full', options: { includeCommits: true, includeBranches: false, includeContributors: true, maxCommits: 100 }, status: 'processing' },
    });
    const opened = await openPage();
    const { page } = opened;
    await signInWithKey(page);
    await page.getByRole('link', { name: 'Visualizations' }).click();
    await page.getByTestId('viz-total').getByText('1 visualization').waitFor();
    const link = page.locator(`tr[data-visualization="${id}"]`).getByRole('link', { name: 'https://example.com/listed.git' });
    expect(await link.getAttribute('href')).toBe(`/viz/${id}`);
    await opened.finish('visualizations');
  });

  it('creates an API key and shows its secret once', async () => {
    const opened = await openPage();
    const { page } = opened;
    const finish = (name: string) => opened.finish(name);
    await signInWithKey(page);
    await page.getByRole('link', { name: 'Keys and access' }).click();
    await page.getByRole('heading', { name: 'Keys and access' }).waitFor();
    await page.locator('form').filter({ hasText: 'Create key' }).getByLabel('Name').fill('ci pipeline');
    await page.getByRole('button', { name: 'Create key' }).click();
    const secret = (await page.getByTestId('secret').textContent())!.trim();
    expect((await graphql(sys.url, secret, '{ viewer { name } }')).body.data).toEqual({ viewer: { name: 'Dana Dashboard' } });
    await page.locator('tr[data-key="ci pipeline"]').waitFor();
    await page.screenshot({ path: join(SHOTS, 'keys-secret-shown.png'), fullPage: true });
    await page.getByRole('button', { name: 'I have copied it' }).click();
    await page.reload();
    await page.locator('tr[data-key="ci pipeline"]').waitFor();
    expect(await page.content()).not.toContain(secret);
    await finish('keys');
  });

  it('shows a webhook delivery with its attempt and redelivers it', async () => {
    const project = await sys.services.db.project.create({ data: { id: newId('project'), ownerId: user.userId, name: 'Web app' } });
    const api = restClient(sys.url, user.apiKey);
    const hook = await api.post('/v1/webhooks', { project_id: project.id, url: `http://127.0.0.2:${receiverPort}/hook`, events: ['task.completed'] });
    expect(hook.status, JSON.stringify(hook.body)).toBe(201);
    const opened = await openPage();
    const { page } = opened;
    const finish = (name: string) => opened.finish(name);
    await signInWithKey(page);
    await page.getByRole('link', { name: 'Webhooks' }).click();
    const card = page.locator(`[data-webhook="${hook.body.id}"]`);
    await card.getByRole('button', { name: 'Send test event' }).click();
    const delivered = card.locator('[data-delivery][data-status="succeeded"]');
    await delivered.first().waitFor({ timeout: 20_000 });
    expect(await delivered.first().textContent()).toContain('HTTP 200');
    expect(await delivered.first().textContent()).toContain('received by the test');
    const before = received.length;
    await delivered.first().getByRole('button', { name: 'Redeliver' }).click();
    await waitFor(async () => (received.length > before ? true : undefined), 20_000);
    await waitFor(async () => {
      await card.page().getByRole('button', { name: 'Refresh' }).click();
      return (await card.locator('[data-delivery]').count()) >= 2 && (await card.getByText(/redelivery of/).count()) >= 1 ? true : undefined;
    }, 20_000, 500);
    await finish('webhooks-redeliver');
  });

  it('runs a subscription in the GraphQL explorer, with the header prefilled', async () => {
    const taskId = await submit(manyFiles(1));
    await waitFor(async () => ((await taskStatus(taskId)) === 'completed' ? true : undefined), 60_000);
    const opened = await openPage(1280, 800, { 'dashboard.credential': user.apiKey });
    const { page } = opened;
    const finish = (name: string) => opened.finish(name);
    await page.goto(`${sys.url}/graphql`);
    const editor = page.locator('.graphiql-query-editor .monaco-editor').first();
    await editor.waitFor({ timeout: 30_000 });
    await editor.click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText(`subscription Follow { taskEvents(taskId: "${taskId}") { seq type status } }`);
    // GraphiQL reads the edited document a moment later (debounced): until its tab is named after
    // the new operation, Execute would still send the old one.
    await page.getByRole('tab', { name: /Follow/ }).waitFor({ timeout: 10_000 });
    await page.getByRole('button', { name: /Execute query/ }).click();
    await page.locator('.result-window').getByText('"RESULT"').waitFor({ timeout: 20_000 });
    await finish('explorer-subscription');
  });

  it('fits a 390 px phone', async () => {
    const opened = await openPage(390, 844);
    const { page } = opened;
    const finish = (name: string) => opened.finish(name);
    await signInWithKey(page);
    await submit(manyFiles(1));
    await page.locator('tr[data-task]').first().waitFor({ timeout: 15_000 });
    for (const name of ['Runs', 'Usage and plan', 'Keys and access', 'Webhooks', 'Visualizations']) {
      await page.getByRole('navigation').getByRole('link', { name }).click();
      await page.getByRole('heading', { name, level: 1 }).waitFor();
      // Wide tables scroll inside their box; the page itself never scrolls sideways.
      const wide = await page.evaluate(() =>
        [...(globalThis as any).document.querySelectorAll('body *')]
          .filter((el: any) => el.getBoundingClientRect().right > 391 && !el.closest('.table-wrap')?.contains(el.offsetParent))
          .map((el: any) => `${el.tagName}.${el.className}`)
          .slice(0, 5),
      );
      expect(await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth), `${name}: ${wide.join(' ')}`).toBeLessThanOrEqual(390);
      if (name === 'Runs') await page.screenshot({ path: join(SHOTS, 'phone-390-runs.png') });
    }
    // Keyboard: the skip link comes first and is visible when focused.
    await page.reload();
    await page.getByRole('heading', { name: 'Visualizations', level: 1 }).waitFor();
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => (globalThis as any).document.activeElement?.textContent)).toBe('Skip to content');
    // Focus is visible: the focused control draws an outline.
    expect(await page.evaluate(() => (globalThis as any).getComputedStyle((globalThis as any).document.activeElement).outlineStyle)).not.toBe('none');
    await finish('phone-390');
  });
});

import { restClient } from './client.js';
/** Small source files with known problems, for tests that run whole tasks. */

export const vulnerableJs = {
  path: 'src/routes/users.js',
  content: [
    "const express = require('express');",
    'app.get("/user", (req, res) => {',
    '  db.query("SELECT * FROM users WHERE id = " + req.query.id);',
    '});',
    '',
  ].join('\n'),
};

export const cleanJs = {
  path: 'src/routes/health.js',
  content: ['app.get("/health", (req, res) => {', '  res.json({ ok: true });', '});', ''].join('\n'),
};

/** `count` harmless files; with AGENT_STEP_DELAY_MS they make a task that runs long enough to watch. */
export function manyFiles(count: number) {
  return Array.from({ length: count }, (_, i) => ({ path: `src/module-${i}.ts`, content: `export const value${i} = ${i};\n` }));
}

export function executeBody(files = [vulnerableJs], extra: Record<string, unknown> = {}) {
  return { task: 'Review this code for security vulnerabilities', agent_type: 'security_expert', context: { files }, ...extra };
}

/**
 * Puts `who` in a team the way people join: `inviterKey` invites them (202) and they accept the
 * invitation with their own key. Returns the accepted membership (the REST member JSON).
 */
export async function joinTeam(baseUrl: string, inviterKey: string, teamId: string, who: { userId: string; apiKey: string }, role: string) {
  const invited = await restClient(baseUrl, inviterKey).post(`/v1/teams/${teamId}/members`, { user_id: who.userId, role });
  if (invited.status !== 202) throw new Error(`inviting ${who.userId} answered ${invited.status}: ${JSON.stringify(invited.body)}`);
  const accepted = await restClient(baseUrl, who.apiKey).post(`/v1/invitations/${invited.body.id}/accept`, {});
  if (accepted.status !== 200) throw new Error(`accepting ${invited.body.id} answered ${accepted.status}: ${JSON.stringify(accepted.body)}`);
  return accepted.body.member;
}

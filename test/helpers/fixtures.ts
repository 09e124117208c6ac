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

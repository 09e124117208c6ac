/** Git repositories built by tests and benchmarks with known commits, authors, dates, renames and merges. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface FixtureCommit {
  /** ISO 8601 date: both author and committer date (rev-list orders by the committer's). */
  date: string;
  author: { name: string; email: string };
  message: string;
  write?: Record<string, string | Buffer>;
  rename?: Array<[from: string, to: string]>;
  /** Runs on this branch (created from the current one when new). */
  branch?: string;
  /** Merges this branch into the current one (--no-ff) instead of writing files. */
  merge?: string;
}

/** A git runner for a repository, with a clean environment. */
export function gitIn(dir: string) {
  return (args: string[], env: Record<string, string> = {}) =>
    execFileSync('git', args, {
      cwd: dir,
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: dir, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', ...env },
    }).trim();
}

/** Builds a repository at `dir` (branch main) and returns each commit's sha by message. */
export function buildRepository(dir: string, commits: FixtureCommit[]): Record<string, string> {
  mkdirSync(dir, { recursive: true });
  const git = gitIn(dir);
  git(['init', '-q', '-b', 'main']);
  const shas: Record<string, string> = {};
  let current = 'main';
  for (const c of commits) {
    const env = {
      GIT_AUTHOR_NAME: c.author.name,
      GIT_AUTHOR_EMAIL: c.author.email,
      GIT_AUTHOR_DATE: c.date,
      GIT_COMMITTER_NAME: c.author.name,
      GIT_COMMITTER_EMAIL: c.author.email,
      GIT_COMMITTER_DATE: c.date,
    };
    const branch = c.branch ?? 'main';
    if (branch !== current) {
      const exists = git(['branch', '--list', branch]) !== '';
      git(exists ? ['checkout', '-q', branch] : ['checkout', '-q', '-b', branch]);
      current = branch;
    }
    if (c.merge) {
      git(['merge', '-q', '--no-ff', '-m', c.message, c.merge], env);
    } else {
      for (const [from, to] of c.rename ?? []) {
        mkdirSync(dirname(join(dir, to)), { recursive: true });
        git(['mv', from, to]);
      }
      for (const [path, content] of Object.entries(c.write ?? {})) {
        mkdirSync(dirname(join(dir, path)), { recursive: true });
        writeFileSync(join(dir, path), content);
      }
      git(['add', '-A']);
      git(['commit', '-q', '-m', c.message], env);
    }
    shas[c.message] = git(['rev-parse', 'HEAD']);
  }
  if (current !== 'main') git(['checkout', '-q', 'main']);
  return shas;
}

/**
 * Parses `git log -z --numstat -M --format=<LOG_FORMAT>` as it streams: each commit's header
 * (record separator 0x1e, fields 0x1f) is followed by its numstat records, NUL-terminated; a rename
 * is `added TAB deleted TAB` then the old and the new path as two more records.
 */
import { NulSplitter } from './git.js';

/** The header format the parser reads. */
export const LOG_FORMAT = '%x1e%H%x1f%P%x1f%aE%x1f%aN%x1f%at%x1f%s';

export interface FileChange {
  path: string;
  /** The path before a rename in this commit. */
  oldPath?: string;
  /** null for binary files (git prints `-`). */
  insertions: number | null;
  deletions: number | null;
}

export interface ParsedCommit {
  sha: string;
  parents: string[];
  authorEmail: string;
  authorName: string;
  /** Author date, seconds since the epoch. */
  time: number;
  subject: string;
  files: FileChange[];
}

/** A push parser: feed it git's stdout, it calls `onCommit` for each complete commit. */
export class GitLogParser {
  private current: ParsedCommit | null = null;
  /** A rename's counts, waiting for its two path records. */
  private pendingRename: { insertions: number | null; deletions: number | null; oldPath?: string } | null = null;
  private readonly splitter = new NulSplitter((r) => this.record(r));

  constructor(private readonly onCommit: (commit: ParsedCommit) => void) {}

  push(chunk: Buffer): void {
    this.splitter.push(chunk);
  }

  end(): void {
    this.splitter.end();
    this.flush();
  }

  private flush() {
    if (this.current) this.onCommit(this.current);
    this.current = null;
    this.pendingRename = null;
  }

  private record(raw: Buffer) {
    let start = 0;
    while (start < raw.length && raw[start] === 0x0a) start++; // the newline git puts before the first numstat line
    if (raw[start] === 0x1e) {
      this.flush();
      const fields = raw.subarray(start + 1).toString('utf8').split('\x1f');
      const [sha = '', parents = '', email = '', name = '', time = '0', ...subject] = fields;
      this.current = {
        sha,
        parents: parents ? parents.split(' ') : [],
        authorEmail: email.toLowerCase(),
        authorName: name,
        time: Number(time),
        subject: subject.join('\x1f').replace(/\n+$/, ''),
        files: [],
      };
      return;
    }
    if (!this.current) return;
    const text = raw.subarray(start).toString('utf8');
    if (this.pendingRename) {
      if (this.pendingRename.oldPath === undefined) {
        this.pendingRename.oldPath = text;
      } else {
        const { insertions, deletions, oldPath } = this.pendingRename;
        this.current.files.push({ path: text, oldPath, insertions, deletions });
        this.pendingRename = null;
      }
      return;
    }
    const tab1 = text.indexOf('\t');
    const tab2 = tab1 < 0 ? -1 : text.indexOf('\t', tab1 + 1);
    if (tab2 < 0) return; // not a numstat line
    const num = (s: string) => (s === '-' ? null : Number(s));
    const insertions = num(text.slice(0, tab1));
    const deletions = num(text.slice(tab1 + 1, tab2));
    const path = text.slice(tab2 + 1);
    if (path === '') this.pendingRename = { insertions, deletions };
    else this.current.files.push({ path, insertions, deletions });
  }
}

/**
 * CPU time (ms) of this process and of every process it started (the Temporal dev server,
 * PostgreSQL's server processes), by command name, read from Linux's /proc; and the machine's
 * busy time over all cores. `cpuSince(snapshot())` says where a round's CPU went.
 */
import { readdirSync, readFileSync } from 'node:fs';

const TICK_MS = 10; // USER_HZ is 100 on Linux

interface Stat {
  pid: number;
  ppid: number;
  comm: string;
  ms: number;
}

function stat(pid: string): Stat | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = text.lastIndexOf(')');
    const fields = text.slice(close + 2).split(' ');
    // After the name: state ppid … utime (field 14) stime (15), i.e. indexes 11 and 12 here.
    return { pid: Number(pid), ppid: Number(fields[1]), comm: text.slice(text.indexOf('(') + 1, close), ms: (Number(fields[11]) + Number(fields[12])) * TICK_MS };
  } catch {
    return null; // ended meanwhile
  }
}

export interface CpuSnapshot {
  byPid: Map<number, Stat>;
  machineBusyMs: number;
}

function machineBusyMs(): number {
  const [, user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  return (user + nice + system + irq + softirq + steal) * TICK_MS;
}

export function snapshot(): CpuSnapshot {
  const all = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(stat).filter((s): s is Stat => s !== null);
  const children = new Map<number, Stat[]>();
  for (const s of all) children.set(s.ppid, [...(children.get(s.ppid) ?? []), s]);
  const byPid = new Map<number, Stat>();
  const visit = (pid: number) => {
    for (const c of children.get(pid) ?? []) {
      byPid.set(c.pid, c);
      visit(c.pid);
    }
  };
  const self = all.find((s) => s.pid === process.pid);
  if (self) byPid.set(self.pid, { ...self, comm: 'this process' });
  visit(process.pid);
  return { byPid, machineBusyMs: machineBusyMs() };
}

/** CPU ms by command since `before` (processes started since count whole), and the machine's busy ms. */
export function cpuSince(before: CpuSnapshot): string {
  const now = snapshot();
  const byComm = new Map<string, number>();
  for (const [pid, s] of now.byPid) byComm.set(s.comm, (byComm.get(s.comm) ?? 0) + s.ms - (before.byPid.get(pid)?.ms ?? 0));
  const parts = [...byComm].filter(([, ms]) => ms > 0).sort((a, b) => b[1] - a[1]).map(([comm, ms]) => `${comm} ${ms}`);
  return `CPU ms: ${parts.join(', ')}; machine busy ${now.machineBusyMs - before.machineBusyMs}`;
}

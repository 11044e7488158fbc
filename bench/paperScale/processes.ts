/**
 * Memory and CPU of process trees, from /proc (Linux): a worker process with its sandbox zygotes,
 * grader processes or trainer processes, and the Temporal server. Sampled every second; a tree's
 * CPU is what its live processes used plus what its exited children used (reaped into their
 * parents' cutime/cstime).
 */
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux
const PAGE_KB = 4;

interface ProcSample {
  pid: number;
  ppid: number;
  /** utime + stime + cutime + cstime, seconds. */
  cpuS: number;
  rssBytes: number;
}

function readProc(pid: number): ProcSample | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: fields start after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(fields[1]);
    const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
    const rssPages = Number(fields[21]);
    return { pid, ppid, cpuS: ticks / TICKS_PER_SECOND, rssBytes: rssPages * PAGE_KB * 1024 };
  } catch {
    return null; // gone between listing and reading
  }
}

function allProcesses(): ProcSample[] {
  const samples: ProcSample[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const sample = readProc(Number(entry));
    if (sample) samples.push(sample);
  }
  return samples;
}

export interface TreeSample {
  /** Processes in the tree now. */
  processes: number;
  cpuS: number;
  /** Resident memory of the tree now, and of its root alone. */
  rssBytes: number;
  rootRssBytes: number;
}

/** One sample of each tree rooted at the given pids. */
export function sampleTrees(roots: readonly number[]): Map<number, TreeSample> {
  const processes = allProcesses();
  const children = new Map<number, ProcSample[]>();
  for (const p of processes) {
    const list = children.get(p.ppid) ?? [];
    list.push(p);
    children.set(p.ppid, list);
  }
  const byPid = new Map(processes.map((p) => [p.pid, p]));
  const result = new Map<number, TreeSample>();
  for (const root of roots) {
    const top = byPid.get(root);
    if (!top) continue;
    const sample: TreeSample = { processes: 0, cpuS: 0, rssBytes: 0, rootRssBytes: top.rssBytes };
    const stack = [top];
    while (stack.length > 0) {
      const p = stack.pop()!;
      sample.processes += 1;
      sample.cpuS += p.cpuS;
      sample.rssBytes += p.rssBytes;
      stack.push(...(children.get(p.pid) ?? []));
    }
    result.set(root, sample);
  }
  return result;
}

/** Peak resident memory (VmHWM) of one process, bytes; 0 when it is gone. */
export function peakRss(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
    return kb ? Number(kb) * 1024 : 0;
  } catch {
    return 0;
  }
}

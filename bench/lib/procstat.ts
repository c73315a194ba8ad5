/**
 * CPU and memory of a process tree, from /proc (Linux):
 * - CPU: utime + stime (clock ticks, every thread included) of the root and each live
 *   descendant, plus cutime + cstime of the root (children it has reaped);
 * - peak RSS: VmHWM, which `resetPeak` sets back to the current RSS (writing 5 to
 *   /proc/<pid>/clear_refs), together with VmRSS sampled every 100 ms, in case the reset
 *   is not allowed; a tree's peak is the sum of its processes' peaks.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

/** CLK_TCK (usually 100). */
export function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

interface Stat {
  readonly ppid: number;
  /** utime + stime, ticks. */
  readonly self: number;
  /** cutime + cstime, ticks. */
  readonly children: number;
}

function readStat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // The command name is in parentheses and may contain spaces: fields start after the last ')'.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state): ppid = field 4, utime..cstime = fields 14..17.
  return { ppid: Number(f[1]), self: Number(f[11]) + Number(f[12]), children: Number(f[13]) + Number(f[14]) };
}

/** The pid and every live descendant. */
export function processTree(root: number): number[] {
  const kids = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const s = readStat(pid);
    if (!s) continue;
    const list = kids.get(s.ppid);
    if (list) list.push(pid);
    else kids.set(s.ppid, [pid]);
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length > 0) {
    const p = todo.pop()!;
    out.push(p);
    todo.push(...(kids.get(p) ?? []));
  }
  return out;
}

/** CPU time of the tree so far, in µs. */
export function treeCpuUs(root: number): number {
  let ticks = 0;
  for (const pid of processTree(root)) {
    const s = readStat(pid);
    if (!s) continue;
    ticks += s.self + (pid === root ? s.children : 0);
  }
  return (ticks * 1_000_000) / clockTicks();
}

function statusKb(pid: number, key: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Current RSS of these processes (default: the tree of `root`), in KB. */
export function treeRssKb(root: number, pids: readonly number[] = processTree(root)): number {
  return pids.reduce((sum, pid) => sum + statusKb(pid, 'VmRSS'), 0);
}

/** Sets each process's VmHWM back to its current RSS; false when not allowed. */
export function resetPeak(root: number): boolean {
  let ok = true;
  for (const pid of processTree(root)) {
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, '5');
    } catch {
      ok = false;
    }
  }
  return ok;
}

/**
 * Measures CPU and peak RSS of a process tree between `start` and `stop`; `also`: more
 * trees counted with it (e.g. the broker a system needs, whose work it would otherwise hide).
 * The peak is the VmHWM of the whole step: reset once at `start`, read once at `stop`.
 */
export class TreeMeter {
  private cpu0 = 0;
  private sampledPeakKb = 0;
  private timer: NodeJS.Timeout | undefined;
  private hwmReset = false;
  private pids: number[] = [];
  private samples = 0;
  private readonly roots: readonly number[];

  constructor(root: number, also: readonly number[] = []) {
    this.roots = [root, ...also];
  }

  private tree(): number[] {
    return this.roots.flatMap((r) => processTree(r));
  }

  private cpuNow(): number {
    return this.roots.reduce((sum, r) => sum + treeCpuUs(r), 0);
  }

  start(): void {
    this.hwmReset = this.roots.map((r) => resetPeak(r)).every(Boolean);
    this.cpu0 = this.cpuNow();
    this.pids = this.tree();
    this.sampledPeakKb = treeRssKb(this.roots[0]!, this.pids);
    this.timer = setInterval(() => {
      // Scanning /proc for descendants is dearer than reading RSS: once every 2 s.
      if (++this.samples % 20 === 0) this.pids = this.tree();
      this.sampledPeakKb = Math.max(this.sampledPeakKb, treeRssKb(this.roots[0]!, this.pids));
    }, 100);
  }

  /** CPU µs used since `start`. */
  cpuUs(): number {
    return this.cpuNow() - this.cpu0;
  }

  /** Peak RSS since `start`, in MB (VmHWM when it could be reset, else the sampled peak). */
  peakRssMb(): number {
    const pids = this.tree();
    const sampled = Math.max(this.sampledPeakKb, treeRssKb(this.roots[0]!, pids));
    if (!this.hwmReset) return sampled / 1024;
    const hwm = pids.reduce((sum, pid) => sum + statusKb(pid, 'VmHWM'), 0);
    return Math.max(hwm, sampled) / 1024;
  }

  stop(): { cpuUs: number; peakRssMb: number } {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    return { cpuUs: this.cpuUs(), peakRssMb: this.peakRssMb() };
  }
}

/** Bytes the tree of `root` has caused to be written to storage so far (/proc/PID/io write_bytes); undefined when unreadable. */
export function treeWriteBytes(root: number): number | undefined {
  let sum = 0;
  for (const pid of processTree(root)) {
    try {
      const m = /^write_bytes:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'latin1'));
      if (!m) return undefined;
      sum += Number(m[1]);
    } catch {
      return undefined;
    }
  }
  return sum;
}

/** Total size of the regular files under `dir`, bytes (files that vanish while counted are skipped). */
export async function dirBytes(dir: string): Promise<number> {
  const { readdir, stat } = await import('node:fs/promises');
  let sum = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    try {
      sum += (await stat(`${e.parentPath}/${e.name}`)).size;
    } catch {
      // trimmed meanwhile
    }
  }
  return sum;
}

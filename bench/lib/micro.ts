/** The timing loop of the micro benchmarks (operators.ts, codecs.ts): runs, medians, CPU time. */

export interface MicroResult {
  readonly name: string;
  /** Items per second of wall time (median run). */
  readonly perSecond: number;
  /** Items per second of this process's CPU time (median run): steadier when the machine is shared. */
  readonly perCpuSecond: number;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1] as number;
}

/** Runs `body` (which handles `n` items) `runs` times; the median wall and CPU rates. */
export function measureRuns(name: string, n: number, runs: number, body: () => void): MicroResult {
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let run = 0; run < runs; run++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    body();
    wall.push(Number(process.hrtime.bigint() - t0) / 1e9);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1e6);
  }
  return { name, perSecond: n / median(wall), perCpuSecond: n / median(cpu) };
}

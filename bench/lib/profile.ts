/**
 * Where edgeflux spends its CPU: it runs under `node --cpu-prof` at a fixed rate (10k/s,
 * QoS 1), stops gracefully (the profile is written at exit), and the .cpuprofile is
 * reduced to self time per function and per area (edgeflux's own files, each package,
 * Node internals, GC), so the team knows what to optimise.
 */
import { copyFile, mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from './procs.js';
import { runStep, type StepEnv, type StepResult } from './steps.js';
import type { SystemDef } from './systems.js';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: number[];
}
interface CpuProfile {
  readonly nodes: ProfileNode[];
  readonly samples: number[];
  readonly timeDeltas: number[];
}

export interface HotSpot {
  readonly name: string;
  readonly where: string;
  /** Share of the busy (non-idle) samples, %. */
  readonly selfPct: number;
}

export interface ProfileResult {
  readonly step: StepResult;
  readonly file: string;
  readonly busyMs: number;
  readonly top: HotSpot[];
  readonly topOwn: HotSpot[];
  readonly areas: { readonly area: string; readonly selfPct: number }[];
}

/** Short place of a function: `src/pipeline/decode.ts:12`, `mqtt/…/handlers/publish.js:30`, `node:net`. */
function place(url: string, line: number, root: string): string {
  if (!url) return '';
  let u = url.replace(/^file:\/\//, '');
  if (u.startsWith(root)) u = u.slice(root.length + 1);
  u = u
    .replace(/^bench\/\.work\/js\//, '')
    .replace(/\.js$/, '.ts')
    .replace(/^.*node_modules\//, '');
  return `${u}:${line + 1}`;
}

function area(url: string, name: string, root: string): string {
  if (!url) return name.startsWith('(') ? name : '(native)';
  if (url.startsWith('node:')) return 'node internals';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1]!;
  const own = /(?:^|\/)(src\/[^/]+)\//.exec(url.replace(root, ''));
  return own ? `edgeflux ${own[1]}` : 'other';
}

/**
 * Self time per function and per area. Time in a native binding (e.g. `writeBuffer`, a
 * write(2)) or in Node's own modules is shown with the nearest application or package
 * caller (`via …`) and counted in that caller's area, so that a syscall per message shows
 * up where it is made.
 */
export function analyseProfile(p: CpuProfile, root: string, topN = 15): Omit<ProfileResult, 'step' | 'file'> {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  /** The nearest caller in application or package code (not Node's own `node:` modules). */
  const appCaller = (id: number): ProfileNode | undefined => {
    for (let cur = parent.get(id), guard = 0; cur !== undefined && guard < 200; cur = parent.get(cur), guard++) {
      const n = byId.get(cur);
      if (n?.callFrame.url && !n.callFrame.url.startsWith('node:')) return n;
    }
    return undefined;
  };
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
  const fns = new Map<string, { name: string; where: string; us: number; own: boolean }>();
  const areas = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of self) {
    const n = byId.get(id);
    if (!n) continue;
    const { functionName, url, lineNumber } = n.callFrame;
    if (functionName === '(idle)') continue;
    busy += us;
    // Native bindings and Node's own modules are charged to the application code calling them.
    const inNode = (!url && !functionName.startsWith('(')) || url.startsWith('node:');
    const caller = inNode ? appCaller(id) : undefined;
    const where = caller
      ? `via ${caller.callFrame.functionName || '(anonymous)'} ${place(caller.callFrame.url, caller.callFrame.lineNumber, root)}`
      : place(url, lineNumber, root);
    const key = `${functionName}@${where}`;
    const ownUrl = caller ? caller.callFrame.url : url;
    const f = fns.get(key) ?? {
      name: functionName || '(anonymous)',
      where,
      us: 0,
      own: /(^|\/)src\//.test(place(ownUrl, 0, root)) && !ownUrl.includes('node_modules'),
    };
    f.us += us;
    fns.set(key, f);
    const a = caller ? area(caller.callFrame.url, caller.callFrame.functionName, root) : area(url, functionName, root);
    areas.set(a, (areas.get(a) ?? 0) + us);
  }
  const pct = (us: number): number => (busy > 0 ? (us * 100) / busy : 0);
  const sorted = [...fns.values()].sort((a, b) => b.us - a.us);
  return {
    busyMs: busy / 1000,
    top: sorted.slice(0, topN).map((f) => ({ name: f.name, where: f.where, selfPct: pct(f.us) })),
    topOwn: sorted
      .filter((f) => f.own)
      .slice(0, topN)
      .map((f) => ({ name: f.name, where: f.where, selfPct: pct(f.us) })),
    areas: [...areas.entries()].sort((a, b) => b[1] - a[1]).map(([a, us]) => ({ area: a, selfPct: pct(us) })),
  };
}

export async function runProfile(
  env: StepEnv,
  def: SystemDef,
  root: string,
  outDir: string,
  stamp: string,
  rate: number,
  stepMs: number,
  qos: 0 | 1 = 1,
): Promise<ProfileResult> {
  const dir = await tempDir('edgeflux-bench-prof-');
  env.log(`  profiling ${def.label} at ${rate}/s QoS ${qos} (node --cpu-prof)`);
  const sut = await def.start({ qos, nodeFlags: ['--cpu-prof', '--cpu-prof-dir', dir], ...(env.workload ? { workload: env.workload } : {}) });
  let step: StepResult;
  try {
    await runStep(env, def, sut, qos, 2000, 2000); // warm-up, also profiled (small next to the step)
    step = await runStep(env, def, sut, qos, rate, stepMs);
  } finally {
    await sut.stop();
  }
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) throw new Error('no .cpuprofile written (did edgeflux exit through process.exit on SIGTERM?)');
  // The daemon's own profile is the largest: the config child (cli/config-apart.ts) inherits the flags and writes a small one.
  const sizes = await Promise.all(files.map(async (f) => ({ f, size: (await stat(join(dir, f))).size })));
  const src = join(dir, sizes.sort((x, y) => y.size - x.size)[0]!.f);
  await mkdir(outDir, { recursive: true });
  const file = join(outDir, `${stamp}-edgeflux-${rate}-qos${qos}.cpuprofile`);
  await copyFile(src, file);
  const prof = JSON.parse(await readFile(src, 'utf8')) as CpuProfile;
  return { step, file, ...analyseProfile(prof, root) };
}

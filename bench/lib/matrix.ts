/**
 * The workload matrix: each cell is one workload (payload × devices × path, workload.ts) at
 * one QoS, measured with runQosBlock (fixed rates × repetitions, then the max zero-loss
 * rate) for edgeflux and the reference that applies:
 * - through mosquitto: the bare batcher (bench/baseline.ts) on the same payload;
 * - into the embedded broker (one connection per device, QoS 1, a window of 1 or 64 in
 *   flight per connection): "mosquitto + edgeflux's MQTT client" fed the same way, with
 *   mosquitto's CPU and RSS counted (the embedded broker replaces that process);
 * - over serial ptys at a realistic rate: no reference (nothing bare reads serial), only
 *   loss, RSS and CPU per reading are reported.
 * The targets are checked in every cell (cellTargets), not on average. The sequential QoS 1
 * publish latency (one connection, one message in flight) is measured on its own.
 */
import type { PlanOptions, SystemQosResult } from './plan.js';
import { runQosBlock } from './plan.js';
import { figuresAt } from './results.js';
import { waitStored, type StepEnv } from './steps.js';
import { edgefluxDef, SERIAL_PORTS, type SystemDef, type SystemsContext } from './systems.js';
import { makeSystems } from './systems.js';
import { endStep, nextStep, PAYLOADS, type PayloadKind, type SourceKind, type Workload } from './workload.js';

export interface Cell {
  /** Short name, e.g. `mqtt/flat/1000/q1`, `embedded/flat/100/w1`, `serial/flat/4`. */
  readonly id: string;
  readonly workload: Workload;
  readonly qos: 0 | 1;
}

/** Serial: readings per second over all ports (25 lines/s per port: a busy sensor at 115200 baud). */
export const SERIAL_RATE = 25 * SERIAL_PORTS;

export function cell(source: SourceKind, payload: PayloadKind, devices: number, qos: 0 | 1, window = 20_000): Cell {
  const connections = source === 'embedded' ? devices : 1;
  const id =
    source === 'embedded'
      ? `embedded/${payload}/${devices}/w${window}`
      : source === 'serial'
        ? `serial/${payload}/${devices}`
        : `mqtt/${payload}/${devices}/q${qos}`;
  return { id, qos, workload: { source, payload, devices, connections, window } };
}

const DEVICE_COUNTS = [100, 1000, 10_000];

/** The full matrix: every payload × device count × QoS through mosquitto; the embedded broker with windows 1 and 64 per device count; serial. */
export function fullMatrix(): Cell[] {
  const cells: Cell[] = [];
  for (const payload of ['flat', 'tasmota', 'z2m', 'lp'] as const) {
    for (const devices of DEVICE_COUNTS) for (const qos of [0, 1] as const) cells.push(cell('mosquitto', payload, devices, qos));
  }
  for (const devices of DEVICE_COUNTS) for (const window of [1, 64]) cells.push(cell('embedded', 'flat', devices, 1, window));
  cells.push(cell('serial', 'flat', SERIAL_PORTS, 1));
  return cells;
}

/** `--quick`: one cell per payload, each device count and QoS at least once, both embedded windows, serial. */
export function quickMatrix(): Cell[] {
  return [
    cell('mosquitto', 'flat', 1000, 1),
    cell('mosquitto', 'tasmota', 10_000, 0),
    cell('mosquitto', 'z2m', 100, 1),
    cell('mosquitto', 'lp', 1000, 0),
    cell('embedded', 'flat', 1000, 1, 64),
    cell('embedded', 'flat', 100, 1, 1),
    cell('serial', 'flat', SERIAL_PORTS, 1),
  ];
}

/** The cells whose id starts with one of `prefixes` (all when none given); an unknown prefix is an error. */
export function selectCells(cells: readonly Cell[], prefixes?: readonly string[]): Cell[] {
  if (!prefixes) return [...cells];
  for (const p of prefixes)
    if (!cells.some((c) => c.id.startsWith(p))) throw new Error(`--cells: no cell starts with "${p}" (cells: ${cells.map((c) => c.id).join(', ')})`);
  return cells.filter((c) => prefixes.some((p) => c.id.startsWith(p)));
}

/** The systems of a cell, the reference first (every ratio is against it). */
export function cellSystems(ctx: SystemsContext, c: Cell): SystemDef[] {
  switch (c.workload.source) {
    case 'mosquitto':
      return makeSystems(ctx, ['baseline', 'edgeflux'], false);
    case 'embedded':
      return [edgefluxDef(ctx, false, 'mqtt+mosquitto'), edgefluxDef(ctx, false, 'embedded')];
    case 'serial':
      return [edgefluxDef(ctx, false, 'serial')];
  }
}

export interface CellResult {
  readonly cell: Cell;
  readonly blocks: SystemQosResult[];
  /** Set when the cell could not be measured (a system did not start …). */
  readonly error?: string;
}

export interface MatrixPlans {
  /** Cells against a reference: its max is searched, edgeflux is stepped to 0.9× of it (stopAtFraction). */
  readonly plan: PlanOptions;
  /** Serial cells: their one realistic rate. */
  readonly serialPlan: PlanOptions;
}

export async function runCell(env: StepEnv, ctx: SystemsContext, c: Cell, plans: MatrixPlans): Promise<CellResult> {
  const systems = cellSystems(ctx, c);
  for (const s of systems) await env.influx.createDatabase(s.db);
  const cellEnv: StepEnv = { ...env, devices: c.workload.devices, workload: c.workload };
  try {
    const blocks = await runQosBlock(cellEnv, systems, c.qos, c.workload.source === 'serial' ? plans.serialPlan : plans.plan);
    return { cell: c, blocks };
  } catch (e) {
    env.log(`  cell ${c.id} failed: ${String(e).slice(0, 800)}`);
    return { cell: c, blocks: [], error: String(e).split('\n')[0]!.slice(0, 300) };
  } finally {
    await env.gen.closePool().catch(() => {});
  }
}

/** The reference and edgeflux blocks of a cell (serial: no reference). */
export function cellPair(r: CellResult): { ref?: SystemQosResult; ef?: SystemQosResult } {
  const ef = r.blocks.find(
    (b) => b.system === 'edgeflux-embedded' || b.system === 'edgeflux-serial' || (b.system === 'edgeflux' && r.cell.workload.source === 'mosquitto'),
  );
  const ref = r.blocks.find((b) => b !== ef && (b.system === 'baseline' || b.system === 'edgeflux'));
  return { ...(ref ? { ref } : {}), ...(ef ? { ef } : {}) };
}

export interface CellTarget {
  readonly figure: string;
  readonly edgeflux: string;
  readonly reference: string;
  readonly ratio: string;
  readonly needed: string;
  readonly verdict: 'PASS' | 'MISS' | 'n/a';
  readonly why?: string;
}

const us = (x: number | undefined): string => (x === undefined ? '—' : `${x.toFixed(1)} µs`);
const mb = (x: number | undefined): string => (x === undefined ? '—' : `${x.toFixed(0)} MB`);
const perS = (x: number | undefined): string => (x === undefined ? '—' : `${Math.round(x).toLocaleString('en-US')}/s`);

/**
 * The targets in one cell: CPU per reading at 10k/s ≤ 1.2× the reference at QoS 0 and
 * ≤ 1.3× at QoS 1; peak RSS at 20k/s ≤ 100 MB (VmHWM of the whole step); max zero-loss
 * rate ≥ 0.9× the reference's (only when the plan climbs: `climbed`); nothing lost in any
 * step. Serial cells: loss and RSS at their one rate.
 */
export function cellTargets(r: CellResult, climbed: boolean): CellTarget[] {
  const { ref, ef } = cellPair(r);
  if (!ef) return [{ figure: 'measured', edgeflux: '—', reference: '—', ratio: '—', needed: '—', verdict: 'MISS', why: r.error ?? 'edgeflux did not run' }];
  const rows: CellTarget[] = [];
  const serial = r.cell.workload.source === 'serial';
  if (!serial) {
    const limit = r.cell.qos === 0 ? 1.2 : 1.3;
    const fe = figuresAt(ef, 10_000);
    const fr = ref ? figuresAt(ref, 10_000) : undefined;
    const ratio = fe.cpu !== undefined && fr?.cpu ? fe.cpu / fr.cpu : undefined;
    const unsustained = [
      fe.reps > fe.sustained ? `edgeflux sustained ${fe.sustained}/${fe.reps}` : '',
      fr && fr.reps > fr.sustained ? `reference ${fr.sustained}/${fr.reps}` : '',
    ]
      .filter(Boolean)
      .join(', ');
    rows.push({
      figure: 'CPU per reading at 10k/s',
      edgeflux: us(fe.cpu),
      reference: us(fr?.cpu),
      ratio: ratio === undefined ? '—' : `${ratio.toFixed(2)}×`,
      needed: `≤ ${limit.toFixed(1)}×`,
      verdict: ratio === undefined ? 'n/a' : ratio <= limit && fe.sustained === fe.reps ? 'PASS' : 'MISS',
      ...(unsustained ? { why: unsustained } : {}),
    });
  }
  const rssRate = serial ? SERIAL_RATE : 20_000;
  const f = figuresAt(ef, rssRate);
  const fr = ref ? figuresAt(ref, rssRate) : undefined;
  rows.push({
    figure: `peak RSS at ${perS(rssRate)}`,
    edgeflux: mb(f.rss),
    reference: mb(fr?.rss),
    ratio: f.rss !== undefined && fr?.rss ? `${(f.rss / fr.rss).toFixed(2)}×` : '—',
    needed: '≤ 100 MB',
    verdict: f.rss === undefined ? 'n/a' : f.rss <= 100 ? 'PASS' : 'MISS',
    ...(f.reps > f.sustained
      ? { why: `sustained ${f.sustained}/${f.reps}` }
      : f.reps === 0 && f.limited > 0
        ? { why: `every ${perS(rssRate)} step was generator-limited (left out)` }
        : {}),
  });
  if (!serial) {
    const ratio = ref && ref.maxRate > 0 ? ef.maxRate / ref.maxRate : undefined;
    const note = [`edgeflux: ${ef.maxNote}`, ref ? `reference: ${ref.maxNote}` : ''].filter(Boolean).join('; ');
    rows.push({
      figure: 'max zero-loss rate',
      edgeflux: `${ef.maxIsLowerBound ? '≥ ' : ''}${perS(ef.maxRate)}`,
      reference: perS(ref?.maxRate),
      ratio: ratio === undefined ? '—' : `${ef.maxIsLowerBound ? '≥ ' : ''}${ratio.toFixed(2)}×`,
      needed: '≥ 0.9×',
      verdict: !climbed ? 'n/a' : ratio === undefined ? (ef.maxRate > 0 ? 'n/a' : 'MISS') : ratio >= 0.9 ? 'PASS' : 'MISS',
      why: climbed ? note : 'quick run: fixed rates only, no climb',
    });
  }
  const lost = ef.steps.reduce((n, s) => n + s.lost, 0);
  const lostRef = ref?.steps.reduce((n, s) => n + s.lost, 0);
  rows.push({
    figure: 'readings lost, every step',
    edgeflux: String(lost),
    reference: lostRef === undefined ? '—' : String(lostRef),
    ratio: '—',
    needed: '0',
    verdict: lost === 0 ? 'PASS' : 'MISS',
    ...(lost > 0
      ? {
          why: ef.steps
            .filter((s) => s.lost > 0)
            .map((s) => `${s.rate}/s: ${s.missingExamples.slice(0, 2).join('; ')}`)
            .join(' | '),
        }
      : {}),
  });
  return rows;
}

export interface MatrixResult {
  readonly cells: CellResult[];
  /** Whether the plan climbed to each system's max (full runs), so the max-rate target applies. */
  readonly climbed: boolean;
  readonly latency: LatencyResult[];
}

export interface LatencyResult {
  readonly label: string;
  readonly messages: number;
  readonly msPerMessage: number;
  readonly lost: number;
}

/**
 * Sequential QoS 1 publishing: one connection, one message in flight (publish, wait for the
 * PUBACK, publish the next), `messages` flat readings as fast as the acks come back; ms per
 * message. Against edgeflux's embedded broker and, for reference, mosquitto (edgeflux
 * subscribed behind it: mosquitto acks on receipt, so this is its own turnaround).
 */
export async function runLatency(env: StepEnv, def: SystemDef, messages: number): Promise<LatencyResult> {
  const workload: Workload = { source: 'embedded', payload: 'flat', devices: 1, connections: 1, window: 1 };
  await env.influx.createDatabase(def.db);
  const sut = await def.start({ qos: 1, workload });
  try {
    await env.gen.openPool(sut.publishPort!, 1, `bench-latency-${def.name}`);
    const key = nextStep(def.db, 'flat', `lat${Date.now()}`);
    const pub = await env.gen.publish({
      system: def.name,
      run: key.run,
      payload: 'flat',
      devices: 1,
      rate: Infinity,
      count: messages,
      qos: 1,
      tsBase: key.base,
      window: 1,
      pool: true,
      // At 44 ms per message (Nagle on the broker's socket) 1000 messages take 44 s: bounded at 2 min.
      giveUpHeldMs: 120_000,
      timeoutMs: 180_000,
    });
    const stored = await waitStored(env.influx, def, sut, key, pub.sent, pub.lastPublishAt, 30_000, PAYLOADS.flat);
    endStep(def.db, 'flat', key, pub.sent, 1);
    const r = { label: def.label, messages: pub.sent, msPerMessage: pub.elapsedMs / Math.max(1, pub.sent - 1), lost: pub.sent - stored.stored };
    env.log(`    ${def.label}: ${r.msPerMessage.toFixed(2)} ms per message, sequential QoS 1 (${pub.sent} messages, ${r.lost} lost)`);
    return r;
  } finally {
    await env.gen.closePool().catch(() => {});
    await sut.stop();
  }
}

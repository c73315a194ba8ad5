/**
 * Micro-benchmark of the shaping operators: readings per second through each operator
 * alone and through a window + deadband chain, on one core, readings prepared in advance.
 *
 *   node --import tsx bench/operators.ts [readings] [series]
 *
 * Readings: `series` devices (measurement climate, tags location + device), fields
 * temperature (float, a random walk, 0.01 resolution) and humidity (integer, a slow random
 * walk), event time advancing 10 ms per reading (so
 * each device reports every series×10 ms). Time runs on a StreamClock advanced with the
 * event time, as a drain would. Each case runs 5 times; the table shows the median, per
 * second of wall time and per second of this process's CPU time (steadier when the
 * machine is shared).
 */
import { loadavg } from 'node:os';
import { Subject, tap, type OperatorFunction } from 'rxjs';
import { composeSteps, type PipelineStep } from '../src/pipeline/compose.js';
import { Holdback, type SeqReading } from '../src/pipeline/holdback.js';
import { ReplayState } from '../src/pipeline/replay-state.js';
import { seriesKey } from '../src/pipeline/series.js';
import { StreamClock } from '../src/pipeline/stream-clock.js';
import { median, measureRuns, type MicroResult } from './lib/micro.js';

const N = Number(process.argv[2] ?? 300_000);
const SERIES = Number(process.argv[3] ?? 1000);
const RUNS = 5;
const STEP_MS = 10;

function makeReadings(): SeqReading[] {
  const temps = new Float64Array(SERIES).fill(20);
  const hums = new Float64Array(SERIES).fill(45);
  const tags = Array.from({ length: SERIES }, (_, i) => ({ device: `th${i}`, location: `room${i % 50}` }));
  let x = 12345;
  const rand = () => (x = (x * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const out: SeqReading[] = [];
  for (let i = 0; i < N; i++) {
    const s = i % SERIES;
    temps[s] = (temps[s] as number) + (rand() - 0.5) * 0.3;
    hums[s] = (hums[s] as number) + (rand() - 0.5) * 0.2;
    out.push({
      seq: i,
      reading: {
        measurement: 'climate',
        tags: tags[s] as Record<string, string>,
        fields: { temperature: Math.round((temps[s] as number) * 100) / 100, humidity: BigInt(Math.round(hums[s] as number)) },
        time: BigInt(1_700_000_000_000 + i * STEP_MS) * 1_000_000n,
      },
    });
  }
  return out;
}

interface Result extends MicroResult {
  readonly out: number;
}

function measure(name: string, readings: readonly SeqReading[], build: (clock: StreamClock) => OperatorFunction<SeqReading, SeqReading>): Result {
  const wall: number[] = [];
  const cpu: number[] = [];
  let out = 0;
  for (let run = 0; run < RUNS; run++) {
    const clock = new StreamClock(1_700_000_000_000);
    const input = new Subject<SeqReading>();
    let n = 0;
    const sub = input.pipe(build(clock)).subscribe(() => n++);
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < readings.length; i++) {
      if ((i & 1023) === 0) clock.advanceTo(1_700_000_000_000 + i * STEP_MS);
      input.next(readings[i] as SeqReading);
    }
    input.complete();
    wall.push(Number(process.hrtime.bigint() - t0) / 1e9);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1e6);
    sub.unsubscribe();
    out = n;
  }
  return { name, perSecond: readings.length / median(wall), perCpuSecond: readings.length / median(cpu), out };
}

function steps(list: PipelineStep[]) {
  return (clock: StreamClock) => composeSteps(list, { scheduler: clock, holdback: new Holdback(), maxSeries: SERIES * 2 });
}

/**
 * As a drain runs a window with its replay ledger (pipeline/replay-state.ts): the cursor
 * committed 1024 readings behind (a read's worth), the state built every 100,000 readings.
 */
function withLedger(list: PipelineStep[]) {
  return (clock: StreamClock): OperatorFunction<SeqReading, SeqReading> => {
    const replay = new ReplayState();
    const op = composeSteps(list, { scheduler: clock, holdback: new Holdback(), maxSeries: SERIES * 2, replay });
    let n = 0;
    return (source) =>
      op(
        source.pipe(
          tap((t) => {
            replay.feeding(t.seq);
            if (++n % 1024 === 0) replay.committed(t.seq - 1024);
            if (n % 100_000 === 0 && replay.snapshot().length === 0) throw new Error('no state');
          }),
        ),
      );
  };
}

const readings = makeReadings();
const cases: [string, (clock: StreamClock) => OperatorFunction<SeqReading, SeqReading>][] = [
  ['pass-through (Subject only)', () => (s) => s],
  ['series_limit', steps([{ series_limit: { max_series: SERIES * 2 } }])],
  ['dedupe', steps([{ dedupe: { heartbeat: 300_000 } }])],
  ['deadband abs 0.2 + heartbeat 5m', steps([{ deadband: { abs: 0.2, heartbeat: 300_000 } }])],
  ['debounce 1s', steps([{ debounce: { quiet: 1000 } }])],
  ['throttle 1m last', steps([{ throttle: { interval: 60_000, keep: 'last' } }])],
  ['throttle 1m mean', steps([{ throttle: { interval: 60_000, keep: 'mean' } }])],
  ['window 1m mean', steps([{ window: { every: 60_000, aggregates: ['mean'] } }])],
  ['window 1m mean + replay ledger', withLedger([{ window: { every: 60_000, aggregates: ['mean'] } }])],
  ['window 1m mean,min,max,count,stddev', steps([{ window: { every: 60_000, aggregates: ['mean', 'min', 'max', 'count', 'stddev'] } }])],
  ['window 5m every 1m (hopping) mean', steps([{ window: { every: 60_000, period: 300_000, aggregates: ['mean'] } }])],
  ['window 1m p50,p99', steps([{ window: { every: 60_000, aggregates: ['p50', 'p99'] } }])],
  ['deadband + window 1m (chain)', steps([{ deadband: { abs: 0.2, heartbeat: 300_000 } }, { window: { every: 60_000, aggregates: ['mean', 'min', 'max'] } }])],
];

/** The per-reading cost every stateful operator pays once: building the series key. */
function measureKeys(): Result {
  let len = 0;
  const r = measureRuns('seriesKey() alone', readings.length, RUNS, () => {
    for (let i = 0; i < readings.length; i++) len += seriesKey((readings[i] as SeqReading).reading).length;
  });
  if (len === 0) throw new Error('seriesKey() built nothing');
  return { ...r, out: -1 };
}

const results: Result[] = [measureKeys(), ...cases.map(([name, build]) => measure(name, readings, build))];

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
console.log(
  `\nshaping operators: ${fmt(N)} readings over ${fmt(SERIES)} series, ${process.version}, median of ${RUNS}, load average ${loadavg()[0]?.toFixed(1)}\n`,
);
console.log(`${'operator'.padEnd(36)} ${'readings/s'.padStart(11)} ${'per CPU-s'.padStart(11)} ${'CPU-µs/rd'.padStart(10)} ${'points out'.padStart(11)}`);
console.log('-'.repeat(83));
for (const r of results) {
  const us = (1e6 / r.perCpuSecond).toFixed(2);
  console.log(
    `${r.name.padEnd(36)} ${fmt(r.perSecond).padStart(11)} ${fmt(r.perCpuSecond).padStart(11)} ${us.padStart(10)} ${(r.out >= 0 ? fmt(r.out) : '-').padStart(11)}`,
  );
}

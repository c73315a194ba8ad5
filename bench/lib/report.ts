/** The dated Markdown section one run appends to bench/RESULTS.md. */
import { cellPair, cellTargets, type MatrixResult } from './matrix.js';
import { block, evaluateTargets, figuresAt, median, postCeiling1, ratesOf, type BenchResults } from './results.js';
import { describeWorkload, PAYLOADS } from './workload.js';

const n = (x: number | undefined, d = 0): string =>
  x === undefined || !Number.isFinite(x) ? '—' : x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });

function table(head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

export function renderSection(res: BenchResults): string {
  const { info } = res;
  const when = info.startedAt.toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
  const minutes = ((info.finishedAt.getTime() - info.startedAt.getTime()) / 60_000).toFixed(1);
  const out: string[] = [];
  out.push(`## ${when} — ${info.quick ? 'quick run (indicative only: short steps, 1 repetition)' : 'full run'}`);
  out.push('');
  out.push(`\`${info.command}\`, ${minutes} min. ${info.machine.join('; ')}.`);
  out.push('');
  out.push(`Versions: ${info.versions.join(', ')}.`);
  out.push('');
  for (const m of info.method) out.push(`- ${m}`);
  for (const m of info.notes) out.push(`- **Note:** ${m}`);
  out.push('');

  if (res.matrix) out.push(renderMatrix(res.matrix), '');
  if (res.blocks.length > 0) out.push(...renderReferenceTargets(res));
  else
    out.push(
      '(The reference workload, `mqtt/flat/100` at QoS 0 and 1, was not among the cells: no targets against the bare batcher, shaped pipeline, outage or start-up figures from it.)',
      '',
    );
  return out.join('\n');
}

/** The matrix: every cell's targets with PASS/MISS, why each miss, every step per cell (folded), the sequential latency. */
export function renderMatrix(m: MatrixResult): string {
  const out: string[] = [];
  out.push('### Workload matrix: targets in every cell');
  out.push('');
  out.push(
    "Reference: the bare batcher (`bench/baseline.ts`, same payload) through mosquitto; for the embedded broker, \"mosquitto + edgeflux's MQTT client\" fed the same way, mosquitto's CPU and RSS counted with edgeflux's. CPU per reading = per message (a Tasmota message is 3 points). Verdicts: CPU ≤ 1.2× (QoS 0) / 1.3× (QoS 1) at 10k/s and every step at 10k/s sustained; peak RSS (VmHWM of the whole step) ≤ 100 MB at 20k/s; max zero-loss rate ≥ 0.9×" +
      (m.climbed ? '' : ' (not in a quick run: no climb)') +
      '; nothing lost in any step.',
  );
  out.push('');
  const rows: string[][] = [];
  const misses: string[] = [];
  let pass = 0;
  let miss = 0;
  for (const r of m.cells) {
    const t = cellTargets(r, m.climbed);
    const get = (f: string): (typeof t)[number] | undefined => t.find((x) => x.figure.startsWith(f));
    const show = (x: (typeof t)[number] | undefined, withRatio = true): string =>
      x ? `${x.edgeflux}${x.reference !== '—' ? ` / ${x.reference}` : ''}${withRatio && x.ratio !== '—' ? ` = ${x.ratio}` : ''} **${x.verdict}**` : '—';
    const verdict = t.some((x) => x.verdict === 'MISS') ? 'MISS' : t.every((x) => x.verdict === 'n/a') ? 'n/a' : 'PASS';
    if (verdict === 'MISS') miss++;
    else if (verdict === 'PASS') pass++;
    rows.push([
      `\`${r.cell.id}\``,
      describeWorkload(r.cell.workload),
      String(r.cell.qos),
      show(get('CPU')),
      show(get('peak RSS'), false),
      show(get('max')),
      show(get('readings lost'), false),
      `**${verdict}**`,
    ]);
    for (const x of t)
      if (x.verdict === 'MISS' || (x.why && x.verdict !== 'n/a' && !x.figure.startsWith('max')))
        misses.push(`- \`${r.cell.id}\` ${x.figure}: ${x.verdict}${x.why ? ` — ${x.why}` : ''}`);
  }
  out.push(
    table(
      ['cell', 'workload', 'QoS', 'CPU/reading at 10k/s: edgeflux / reference', 'peak RSS (20k/s; serial: its rate)', 'max zero-loss rate', 'lost', 'cell'],
      rows,
    ),
  );
  out.push('');
  out.push(`${pass} of ${m.cells.length} cells pass every target, ${miss} miss at least one.`);
  out.push('');
  if (misses.length > 0) {
    out.push('Misses and caveats:');
    out.push('');
    out.push(...misses);
    out.push('');
  }
  out.push('Payloads (one example each; values drawn from realistic ranges per reading):');
  out.push('');
  for (const k of [...new Set(m.cells.map((c) => c.cell.workload.payload))]) out.push(`- \`${k}\`: \`${PAYLOADS[k].example}\``);
  out.push('');
  if (m.latency.length > 0) {
    out.push('Sequential QoS 1 publish (one connection, one message in flight; target ≤ 1 ms per message through the embedded broker):');
    out.push('');
    out.push(
      table(
        ['broker', 'messages', 'ms per message', 'lost', 'verdict'],
        m.latency.map((l) => [
          l.label,
          n(l.messages),
          l.msPerMessage.toFixed(2),
          String(l.lost),
          l.label.includes('embedded') ? `**${l.msPerMessage <= 1 && l.lost === 0 ? 'PASS' : 'MISS'}**` : 'reference',
        ]),
      ),
    );
    out.push('');
  }
  out.push('<details><summary>Every step of every cell (medians per rate)</summary>');
  out.push('');
  const steps: string[][] = [];
  for (const r of m.cells) {
    const { ref, ef } = cellPair(r);
    for (const b of [ref, ef]) {
      if (!b) continue;
      for (const rate of ratesOf(b)) {
        const f = figuresAt(b, rate);
        const held = Math.max(0, ...b.steps.filter((s) => s.rate === rate).map((s) => s.maxHeldMs ?? 0));
        steps.push([
          `\`${r.cell.id}\``,
          b.label,
          `${n(rate)}/s`,
          `${f.sustained}/${f.reps}${f.limited ? ` (+${f.limited} generator-limited)` : ''}`,
          n(f.cpu, 1),
          n(f.rss),
          f.drainMs === undefined ? 'never' : `${(f.drainMs / 1000).toFixed(1)} s`,
          held > 0 ? `${n(held)} ms` : '',
          f.lost ? `**${n(f.lost)}**` : '0',
        ]);
      }
    }
  }
  out.push(table(['cell', 'system', 'rate', 'sustained', 'CPU µs/reading', 'peak RSS MB', 'drain', 'longest window wait', 'lost'], steps));
  out.push('');
  out.push('</details>');
  return out.join('\n');
}

/** The reference workload's targets (rate, CPU and RSS against the bare batcher, the shaped pipeline, the drain, the start), the ceilings and every step. */
function renderReferenceTargets(res: BenchResults): string[] {
  const { info } = res;
  const out: string[] = [];
  out.push('### Targets on the reference workload: rate, CPU, RSS, shaped pipeline, drain and start time');
  out.push('');
  if (info.edgefluxMode !== 'durable') {
    out.push(
      '> edgeflux ran in **memory** mode (no durable journal in this build): the targets are stated for durable mode, so these verdicts are provisional.',
    );
    out.push('');
  }
  out.push(
    table(
      ['target', 'edgeflux', 'reference', 'ratio', 'needed', 'verdict'],
      evaluateTargets(res).map((t) => [t.target, t.edgeflux, t.reference, t.ratio, t.needed, `**${t.verdict}**${t.why ? ` (${t.why})` : ''}`]),
    ),
  );
  out.push('');

  out.push('### Ceilings (same run)');
  out.push('');
  const ceil: string[][] = res.brokerCeilings.map((c) => [
    `mosquitto → mqtt.js counting subscriber, QoS ${c.qos}`,
    `${n(c.rate)} msg/s`,
    `${n(c.received)} of ${n(c.published)} received; publisher ${n(c.publishRate)}/s`,
  ]);
  for (const p of res.postCeilings)
    ceil.push([
      `5000-line POSTs into influxd, ${p.concurrency} in flight${p.after ? `, after outage run ${p.after}` : ''}`,
      `${n(p.rate)} points/s`,
      `${n(p.points)} points${p.failures ? `, ${p.failures} failed requests retried` : ''}`,
    ]);
  out.push(table(['ceiling', 'rate', 'detail'], ceil));
  out.push('');

  out.push('### Max sustained rate with zero loss');
  out.push('');
  const systems = [...new Set(res.blocks.map((b) => b.system))];
  const maxRows: string[][] = [];
  for (const s of systems) {
    for (const qos of [0, 1] as const) {
      const b = block(res, s, qos);
      if (!b) continue;
      const base = block(res, 'baseline', qos);
      const f = figuresAt(b, b.maxRate);
      const fb = base ? figuresAt(base, base.maxRate) : undefined;
      maxRows.push([
        b.label,
        String(qos),
        `${n(b.maxRate)}/s`,
        base && base.maxRate > 0 ? `${(b.maxRate / base.maxRate).toFixed(2)}×` : '—',
        n(f.cpu, 1),
        fb?.cpu ? `${((f.cpu ?? 0) / fb.cpu).toFixed(2)}×` : '—',
        n(f.rss),
        b.maxNote,
      ]);
    }
  }
  out.push(table(['system', 'QoS', 'max rate', '× baseline', 'CPU µs/reading at max', 'CPU × baseline', 'peak RSS MB at max', 'how sure'], maxRows));
  out.push('');

  for (const qos of [0, 1] as const) {
    const bs = res.blocks.filter((b) => b.qos === qos);
    if (bs.length === 0) continue;
    out.push(`### Every rate measured, QoS ${qos} (medians)`);
    out.push('');
    const base = block(res, 'baseline', qos);
    const rows: string[][] = [];
    for (const b of bs) {
      for (const r of ratesOf(b)) {
        const f = figuresAt(b, r);
        const fb = base ? figuresAt(base, r) : undefined;
        rows.push([
          b.label,
          `${n(r)}/s`,
          `${f.sustained}/${f.reps}${f.limited ? ` (+${f.limited} generator-limited, left out)` : ''}`,
          n(f.cpu, 1),
          fb?.cpu && b.system !== 'baseline' ? `${((f.cpu ?? 0) / fb.cpu).toFixed(2)}×` : '',
          n(f.rss),
          f.drainMs === undefined ? 'never' : `${(f.drainMs / 1000).toFixed(1)} s`,
          f.lost ? `**${n(f.lost)}**` : '0',
        ]);
      }
    }
    out.push(table(['system', 'offered rate', 'sustained reps', 'CPU µs/reading', 'CPU × baseline', 'peak RSS MB', 'drain after last publish', 'lost'], rows));
    out.push('');
  }
  const lostSteps = res.blocks.flatMap((b) => b.steps).filter((s) => s.missingExamples.length > 0);
  if (lostSteps.length > 0) {
    out.push('Missing readings, named (first ranges per step):');
    out.push('');
    for (const s of lostSteps.slice(0, 12)) out.push(`- ${s.system} QoS ${s.qos} ${s.rate}/s (run \`${s.run}\`): ${s.missingExamples.join('; ')}`);
    out.push('');
  }

  if (res.outage.length > 0) {
    out.push('### Outage and backlog');
    out.push('');
    const post1 = postCeiling1(res);
    const several = res.outage.some((o) => (o.rep ?? 1) > 1);
    out.push(
      table(
        ['system', 'readings while influxd was down', 'peak RSS during the outage', 'RSS holding them', 'drain', '× POST ceiling', 'back → all stored', 'lost'],
        res.outage.map((o) => [
          o.label + (several && o.rep ? `, run ${o.rep}` : '') + (o.facts ? ` (${o.facts})` : ''),
          `${n(o.readings)} at ${n(o.publishRate)}/s, QoS 1`,
          `${n(o.outageRssMb)} MB`,
          `${n(o.heldRssMb)} MB`,
          o.drainRate === undefined ? '—' : `${n(o.drainRate)} points/s`,
          o.drainRate && post1 ? `${(o.drainRate / post1).toFixed(2)}×` : '—',
          o.resumeToAllMs === undefined ? 'never' : `${(o.resumeToAllMs / 1000).toFixed(1)} s`,
          o.lost ? `**${n(o.lost)}**${o.missingExamples.length ? `: ${o.missingExamples.slice(0, 2).join('; ')}` : ''}` : '0',
        ]),
      ),
    );
    if (several) {
      out.push('');
      out.push(
        `× POST ceiling: against the median of the ${res.postCeilings.filter((p) => p.concurrency === 1).length} 1-in-flight ceilings of this run (${n(post1)} points/s; one at the start, one after each outage run); the target compares medians.`,
      );
    }
    const faster = res.outage.filter((o) => post1 && o.drainRate !== undefined && o.drainRate > post1);
    if (faster.length > 0) {
      out.push('');
      out.push(
        `Note: ${[...new Set(faster.map((o) => o.label))].join(', ')} drained faster than the 1-in-flight POST ceiling${several ? ' (their median)' : ' measured at the start of the run'}: a ceiling measured while the machine was busier comes out low, and the ratio against it high; the drain rates side by side are the fairer comparison.`,
      );
    }
    out.push('');
  }

  out.push('### Start to ready');
  out.push('');
  out.push(
    table(
      ['system', 'median', 'each start'],
      systems.map((s) => {
        const rs = res.blocks.filter((b) => b.system === s).map((b) => b.readyMs);
        return [res.blocks.find((b) => b.system === s)!.label, `${n(median(rs))} ms`, rs.map((r) => `${r}`).join(', ') + ' ms'];
      }),
    ),
  );
  out.push('');

  if (res.profile) {
    const p = res.profile;
    out.push(`### Where edgeflux spends its CPU (node --cpu-prof, ${n(p.step.rate)}/s QoS 1, ${n(p.busyMs)} ms busy)`);
    out.push('');
    out.push(
      `Profile: \`${p.file.replace(/^.*\/bench\//, 'bench/')}\` (kept locally, not committed; open in Chrome DevTools → Performance, or speedscope). Self time, share of busy samples; time in native calls and Node's own modules is charged to the code making the call (\`via …\`):`,
    );
    out.push('');
    out.push(
      table(
        ['area', 'self %'],
        p.areas.slice(0, 12).map((a) => [a.area, a.selfPct.toFixed(1)]),
      ),
    );
    out.push('');
    out.push(
      table(
        ['function (all code)', 'where', 'self %'],
        p.top.map((h) => [`\`${h.name}\``, h.where, h.selfPct.toFixed(1)]),
      ),
    );
    out.push('');
    out.push(
      table(
        ["function (edgeflux's own code)", 'where', 'self %'],
        p.topOwn.slice(0, 10).map((h) => [`\`${h.name}\``, h.where, h.selfPct.toFixed(1)]),
      ),
    );
    out.push('');
  }

  if (res.charts.length > 0) {
    out.push('### Charts');
    out.push('');
    for (const c of res.charts) out.push(`![rate vs CPU per reading](${c})`);
    out.push('');
  }
  return out;
}

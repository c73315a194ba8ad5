import { Subject, merge, share, takeUntil, type Subscription } from 'rxjs';
import type { Config } from './config/types.js';
import type { Logger } from './observe/logger.js';
import { Counters } from './observe/counters.js';
import { RateLimiter } from './observe/rate-limit.js';
import { systemClock, type Clock } from './clock.js';
import type { DecodeError, RawMessage } from './types.js';
import type { Source } from './sources/source.js';
import { EmbeddedBroker } from './sources/embedded-broker.js';
import { MqttSource } from './sources/mqtt-source.js';
import { RuleSet } from './devices/rules.js';
import { decodeMessages } from './pipeline/decode.js';
import { encodeLines } from './pipeline/encode.js';
import { batch } from './pipeline/batch.js';
import { DeadLetter } from './sink/dead-letter.js';
import { Output } from './sink/output.js';
import { createWriter } from './sink/influx-writer.js';

export interface DaemonDeps {
  readonly config: Config;
  readonly logger: Logger;
  readonly counters?: Counters;
  readonly clock?: Clock;
}

/**
 * Wires sources → decode → encode → per-output batches → outputs, and owns their
 * lifecycle. Construction does nothing; `start()` brings everything up (outputs first,
 * so that no accepted reading waits for a sink that does not exist yet); `stop()`
 * closes the sources, flushes every partial batch and every pending write within
 * `shutdown_timeout`, and says whether everything was flushed.
 */
export class Daemon {
  readonly counters: Counters;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly stopping$ = new Subject<void>();
  private readonly badInputLog = new RateLimiter(10_000);
  private deadLetter: DeadLetter | undefined;
  private outputs: Output[] = [];
  private sources: Source[] = [];
  private broker: EmbeddedBroker | undefined;
  private subs: Subscription[] = [];
  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';

  constructor(private readonly deps: DaemonDeps) {
    this.counters = deps.counters ?? new Counters();
    this.log = deps.logger;
    this.clock = deps.clock ?? systemClock();
  }

  /** The embedded broker's bound port (useful with `port: 0`), if it runs. */
  get brokerPort(): number | undefined {
    return this.broker?.port;
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`daemon: start() called in state ${this.state}`);
    this.state = 'running';
    const { config } = this.deps;
    const rules = new RuleSet(config.rules, config.limits);

    this.deadLetter = new DeadLetter({ path: config.dead_letter.path, maxBytes: config.dead_letter.max_bytes, logger: this.log, counters: this.counters });
    await this.deadLetter.start();

    for (const oc of config.outputs) {
      const out = new Output({
        config: oc,
        writer: createWriter(oc),
        logger: this.log.child({ output: oc.id }),
        counters: this.counters,
        deadLetter: this.deadLetter,
      });
      out.start();
      this.outputs.push(out);
    }

    if (config.broker) {
      this.broker = new EmbeddedBroker({ config: config.broker, logger: this.log.child({ source: 'broker' }), clock: this.clock });
      this.sources.push(this.broker);
    }
    const filters = rules.filters();
    for (const mc of config.mqtt) {
      this.sources.push(new MqttSource({ config: mc, defaultFilters: filters, logger: this.log.child({ source: mc.id }), clock: this.clock }));
    }

    // One stream from every source; completes when stop() begins, which flushes the
    // partial batch of every output.
    const lines$ = merge(...this.sources.map((s) => s.messages())).pipe(
      takeUntil(this.stopping$),
      decodeMessages(
        (m) => {
          this.counters.inc('messages_received', { source: m.sourceId });
          return rules.decode(m);
        },
        (m, e) => this.onBadMessage(m, e),
      ),
      encodeLines(() => this.counters.inc('readings_dropped', { reason: 'no_valid_field' })),
      share(),
    );
    for (const out of this.outputs) {
      const b = out.config.batch;
      this.subs.push(lines$.pipe(batch(b.max_age, b.max_points)).subscribe({
        next: (lines) => out.submit(lines),
        error: (e: unknown) => this.log.fatal({ err: e }, 'pipeline failed'),
      }));
    }

    await Promise.all(this.sources.map((s) => s.start()));
    this.log.info(
      { sources: this.sources.map((s) => s.id), outputs: this.outputs.map((o) => o.config.id), brokerPort: this.brokerPort },
      'edgeflux started',
    );
  }

  /** Stops within `shutdown_timeout`; resolves true when every accepted reading was written. */
  async stop(): Promise<boolean> {
    if (this.state === 'stopped' || this.state === 'stopping') return false;
    this.state = 'stopping';
    const deadline = this.clock.nowMs() + this.deps.config.shutdown_timeout;
    this.log.info('stopping: closing sources, flushing outputs');
    const left = () => Math.max(0, deadline - this.clock.nowMs());

    await Promise.allSettled(this.sources.map((s) => s.stop()));
    this.stopping$.next();
    this.stopping$.complete();
    const flushed = await Promise.all(this.outputs.map((o) => o.stop(left())));
    for (const s of this.subs) s.unsubscribe();
    await this.deadLetter?.stop();
    this.state = 'stopped';
    const ok = flushed.every(Boolean);
    if (ok) this.log.info('stopped: every accepted reading was written');
    else this.log.error({ pending: this.outputs.map((o) => ({ output: o.config.id, points: o.pendingPoints })) }, 'stopped with unwritten readings');
    return ok;
  }

  private onBadMessage(m: RawMessage, e: DecodeError): void {
    this.counters.inc('messages_failed', { source: m.sourceId, reason: e.reason });
    this.deadLetter?.record({ reason: e.reason, sourceId: m.sourceId, topic: m.topic, payload: m.payload, message: e.message });
    const suppressed = this.badInputLog.take(`${m.topic}\0${e.reason}`);
    if (suppressed >= 0) {
      this.log.warn({ source: m.sourceId, topic: m.topic, reason: e.reason, suppressed }, `bad message on ${m.topic}: ${e.message}`);
    }
  }
}

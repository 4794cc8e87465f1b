/**
 * The per-request decision at entry, before anything is captured: is this request mirrored, to which targets,
 * and has the engine room for it. Cheap by design: a request left out costs a counter.
 */
import type { IncomingMessage } from 'node:http';
import type { ByteBudget } from '../byte-budget.js';
import type { ResolvedOptions } from '../engine/config.js';
import type { NotMirroredReason } from '../types.js';
import { isSampledIn, sampleBucket } from './decide.js';
import type { EngineView } from './engine-view.js';
import type { TapCounters } from './tap-counters.js';

/** The engine sheds by lag only while it holds at least this many exchanges (about one turn's batch at saturation). */
const LAG_SHED_MIN_IN_ENGINE = 16;

export class Admission {
  /** Changed at run time by `update()`. */
  enabled: boolean;
  sampleRate: number;

  constructor(
    private readonly config: ResolvedOptions,
    private readonly engine: EngineView,
    private readonly counters: TapCounters,
    private readonly budget: ByteBudget,
  ) {
    this.enabled = config.enabled;
    this.sampleRate = config.sampleRate;
  }

  /** One draw (random, or the hash of the `sampleBy` key) per request, so lower rates see subsets of higher ones. */
  select(req: IncomingMessage): string[] | NotMirroredReason {
    const config = this.config;
    if (!this.enabled) return 'disabled';
    if (config.methods && !config.methods.has(req.method ?? '')) return 'method';
    if (config.filter && !config.filter(req)) return 'filtered';
    const draw = config.sampleBy ? sampleBucket(String(config.sampleBy(req))) : Math.random();
    const now = Date.now();
    const selected: string[] = [];
    let sampledIn = false;
    for (const target of this.engine.targets) {
      if (target.role !== 'candidate' || !isSampledIn(target.sampleRate ?? this.sampleRate, draw)) continue;
      sampledIn = true;
      if (target.state === 'open' && now < target.reopensAt) {
        this.counters.breakerOpen(target.name);
        continue;
      }
      selected.push(target.name);
    }
    if (selected.length === 0) return sampledIn ? 'breaker_open' : 'sampled_out';
    for (const target of this.engine.targets) {
      if (target.role === 'secondary' && !(target.state === 'open' && now < target.reopensAt)) selected.push(target.name);
    }
    return selected;
  }

  /**
   * The engine has room when it keeps up (its loop is less than `maxEngineLagMs` behind: a backlog would distort
   * the latencies it measures), what it holds plus this request (and those `preparing`) fits its slots and queue,
   * and bytes are left.
   */
  hasRoom(preparing: number): boolean {
    const config = this.config;
    const engine = this.engine;
    const budget = this.budget;
    // Only a backlog of our own is relieved by shedding: a loop slowed by the machine, with little in hand, is not;
    // nor is an engine in the app's thread, whose loop lag is the app's own.
    if (engine.lagMs > config.maxEngineLagMs && engine.inEngine >= LAG_SHED_MIN_IN_ENGINE && engine.link.mode === 'worker') return false;
    return engine.inEngine + preparing < config.maxConcurrent + config.maxQueue && budget.used < budget.limit;
  }
}

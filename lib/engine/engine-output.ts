/**
 * What one engine instance sends out: records to its log sink (made safe to serialise first), events to the tap's
 * metrics, and the word that an exchange's bytes are free. None of it may ever throw into the engine, let alone the
 * app. Also every way a request leaves the engine without its calls: skipped (with a record) or shed (counted).
 */
import type { ShadowLogRecord, SkipReason } from '../types.js';
import type { ResolvedOptions } from './config.js';
import type { EngineEvent, EngineFeedback, SkippedExchange } from './exchange.js';
import type { EngineCounts } from './engine-counts.js';
import type { Accepted } from './request-group.js';
import type { RecordSink } from './sink-types.js';
import { maskQuery } from './redact-query.js';
import { safeRecord } from './safe-record.js';
import { hookContext, workingOn } from './watchdog.js';

export class EngineOutput {
  constructor(
    private readonly config: ResolvedOptions,
    private readonly sink: RecordSink,
    readonly feedback: EngineFeedback,
    /** The instance's id in its host, for the record a hook past its budget needs. */
    private readonly instanceId: number,
    private readonly counts: EngineCounts,
  ) {}

  /** Tells the tap the exchange's bytes are free. Exactly once per exchange. */
  settle(exchange: Accepted): void {
    const held = exchange.heldBytes;
    exchange.heldBytes = 0;
    exchange.body = undefined;
    exchange.response.chunks = [];
    this.feedback.settled(held);
  }

  /** The engine gives up on a request it took: counted, one `skipped` record, settled. */
  gaveUp(exchange: Accepted, reason: SkipReason, detail: string): undefined {
    this.counts.skipped(reason);
    this.event({ kind: 'skipped', reason, route: exchange.route });
    this.skipped({
      requestId: exchange.requestId,
      ...(exchange.clientRequestId !== undefined ? { clientRequestId: exchange.clientRequestId } : {}),
      method: exchange.method,
      path: exchange.path,
      route: exchange.route,
      status: exchange.status,
      reason,
      detail,
    });
    this.settle(exchange);
    return undefined;
  }

  /** Overload: counted in the summary (with a sample of ids), not one record each. */
  shed(exchange: Accepted): void {
    this.counts.shed(exchange.requestId);
    this.event({ kind: 'skipped', reason: 'queue_full', route: exchange.route });
    this.settle(exchange);
  }

  write(record: ShadowLogRecord): void {
    try {
      this.sink.write(safeRecord(record, this.config.maxLoggedBodyBytes));
    } catch {
      // A logger that throws must not reach the app.
    }
  }

  event(event: EngineEvent): void {
    if (!this.feedback.event) return;
    try {
      this.feedback.event(event);
    } catch {
      // Metrics must never break mirroring.
    }
  }

  /** One `skipped` record: a request the tap or the engine gave up on after production answered. */
  skipped(skipped: SkippedExchange): void {
    this.write({
      type: 'skipped',
      requestId: skipped.requestId,
      ...(skipped.clientRequestId !== undefined ? { clientRequestId: skipped.clientRequestId } : {}),
      timestamp: new Date().toISOString(),
      reason: skipped.reason,
      method: skipped.method,
      path: this.loggedPath(skipped.path),
      route: skipped.route,
      ...(skipped.status !== undefined ? { status: skipped.status } : {}),
      ...(skipped.detail !== undefined ? { detail: skipped.detail } : {}),
    });
  }

  /** A path as logged: credential query values masked, other values through value masking. */
  loggedPath(path: string): string {
    const masked = maskQuery(path, this.config.secrets.redactQuery);
    return this.config.secrets.maskText ? this.config.secrets.maskText(masked) : masked;
  }

  /**
   * What a hook past its time budget is working on (watchdog.ts): enough for its `skipped` record, made once.
   * `userCode`: what runs next is the user's, which may block this thread until the tap ends it; the records
   * finished before it are then sent to the file first (the log batcher would otherwise gather them a while longer).
   */
  workingOn(exchange: Accepted, userCode = true): void {
    if (userCode) this.sink.hurry();
    exchange.hookContext ??= hookContext({
      instance: this.instanceId,
      requestId: exchange.requestId,
      clientRequestId: exchange.clientRequestId,
      method: exchange.method,
      path: this.loggedPath(exchange.path).slice(0, 1024),
      route: exchange.route,
      status: exchange.status,
    });
    workingOn(exchange.hookContext);
  }
}

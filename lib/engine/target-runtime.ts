/**
 * One target's live state and how it is called: breaker, latency window, counters, the request transform, and a
 * deadline on every call (the client's own timer, or the function target's signal), so a slot is freed after
 * `timeoutMs` whatever the transport does (a `101 Switching Protocols`, an answer that never ends).
 */
import type { ResolvedOptions, ResolvedTarget } from './config.js';
import { LatencyWindow } from '../counters.js';
import type { BreakerState, ShadowRequest } from '../types.js';
import { applyRequestChange } from './answers.js';
import { CircuitBreaker } from './breaker.js';
import { callFunctionTarget, type ShadowClient, type ShadowOutcome } from './dispatch.js';
import { rawShadowPath, shadowUrlFor } from './target-url.js';
import { errorMessage, showValue } from '../errors.js';
import { timedHook } from './watchdog.js';

/** Node's default limit on the header section a server accepts; a request over it fails by its own size. */
const MAX_HEADER_BYTES = 16 * 1024;
/**
 * Room for what the HTTP client adds on the way out (`host` with the port, `accept-encoding`, `connection`,
 * `content-length`, line ends): a request that only fits without them is answered 431 by the shadow.
 */
const CLIENT_HEADER_RESERVE_BYTES = 256;

export interface TargetRuntime {
  config: ResolvedTarget;
  breaker: CircuitBreaker;
  latency: LatencyWindow;
  mirrored: number;
  succeeded: number;
  failed: Record<string, number>;
  breakerOpenInPeriod: number;
  /** Sends one job's request; never rejects. */
  call(job: TargetJob, cancel: AbortSignal): Promise<ShadowOutcome>;
}

interface TargetJob {
  group: { request: ShadowRequest };
  isProbe: boolean;
  /** Built (and checked) once when the request was accepted; URL targets only. */
  url: URL | undefined;
}

export function createTargetRuntime(
  target: ResolvedTarget,
  client: ShadowClient,
  config: Pick<ResolvedOptions, 'timeoutMs' | 'maxShadowResponseBytes'> & { hookTimeoutMs?: number },
  onTransition: (state: BreakerState, reason: string, reopensAt: number) => void,
): TargetRuntime {
  const breaker: CircuitBreaker = new CircuitBreaker(target.breaker, ({ state, reason }) => onTransition(state, reason, breaker.reopensAt));
  const runtime: TargetRuntime = {
    config: target,
    breaker,
    latency: new LatencyWindow(),
    mirrored: 0,
    succeeded: 0,
    failed: Object.create(null) as Record<string, number>,
    breakerOpenInPeriod: 0,
    call: (job, cancel) => callTarget(runtime, job, cancel, send, config.hookTimeoutMs ?? 1000),
  };
  const endpoint = target.endpoint;
  function send(request: ShadowRequest, signal: AbortSignal, url: URL | undefined): Promise<ShadowOutcome> {
    if (endpoint.kind === 'function') {
      return callFunctionTarget(endpoint.call, request, signal, config.timeoutMs, config.maxShadowResponseBytes);
    }
    const built = url ?? shadowUrlFor(endpoint.url, request.path);
    if (!built) return Promise.resolve(refused('bad_url', `path ${showValue(request.path)} cannot be sent to ${target.name}`));
    const tooLarge = headerSectionTooLarge(request);
    if (tooLarge) return Promise.resolve(refused('request_headers_too_large', tooLarge));
    return client.send({ method: request.method, url: built, rawPath: rawShadowPath(endpoint.url, request.path), headers: request.headers, body: request.body });
  }
  return runtime;
}

type Send = (request: ShadowRequest, signal: AbortSignal, url: URL | undefined) => Promise<ShadowOutcome>;

async function callTarget(target: TargetRuntime, job: TargetJob, cancel: AbortSignal, send: Send, hookTimeoutMs: number): Promise<ShadowOutcome> {
  let isProbe = job.isProbe;
  if (!isProbe && target.breaker.state !== 'closed') {
    // Accepted before the breaker opened: not sent to a target known to be failing; after the cooldown it is the
    // probe, and must report back as one or the breaker would wait for it forever.
    const admission = target.breaker.admit();
    if (admission === 'no') return { ok: false, code: 'breaker_open', message: 'circuit open; not sent', durationMs: 0 };
    isProbe = admission === 'probe';
  }
  let settledProbe = false;
  const report = (outcome: ShadowOutcome): ShadowOutcome => {
    settledProbe = true;
    // A call close() cancelled, or one that failed by the request's own shape, says nothing about the target.
    if (!outcome.ok && (outcome.code === 'cancelled' || outcome.code === 'bad_url' || outcome.requestFault)) {
      if (isProbe) target.breaker.releaseProbe();
      return outcome;
    }
    // An answer over maxShadowResponseBytes counts as a failure: a shadow sending huge bodies costs CPU.
    const reported = outcome.ok ? (outcome.truncated ? { status: outcome.status, errorCode: 'response_too_large' } : { status: outcome.status }) : { errorCode: outcome.code };
    target.breaker.record(reported, isProbe);
    return outcome;
  };
  try {
    let request = job.group.request;
    if (target.config.transformRequest) {
      try {
        const transform = target.config.transformRequest;
        const original = request;
        request = applyRequestChange(request, await timedHook('transformRequest', hookTimeoutMs, () => transform(original)));
      } catch (error) {
        return report({ ok: false, code: 'transform_error', message: `transformRequest threw: ${errorMessage(error)}`, durationMs: 0, requestFault: true });
      }
    }
    const url = request.path === job.group.request.path ? job.url : undefined;
    // URL calls carry their own deadline and are cancelled by the client on drain; function targets get the signal.
    return report(await send(request, cancel, url));
  } catch (error) {
    return report({ ok: false, code: 'engine_error', message: errorMessage(error), durationMs: 0, requestFault: true });
  } finally {
    if (!settledProbe && isProbe) target.breaker.releaseProbe();
  }
}

function refused(code: string, message: string): ShadowOutcome {
  return { ok: false, code, message, durationMs: 0, requestFault: true };
}

/** The header section as a server would count it, when it is over Node's default limit. */
function headerSectionTooLarge(request: ShadowRequest): string | undefined {
  let bytes = request.method.length + request.path.length + 12 + CLIENT_HEADER_RESERVE_BYTES;
  // No entries array or per-value array: this runs on every call, on the engine's budget.
  const headers = request.headers;
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (Array.isArray(value)) for (const item of value) bytes += name.length + String(item).length + 4;
    else bytes += name.length + String(value).length + 4;
    if (bytes > MAX_HEADER_BYTES) return `the request's header section exceeds ${MAX_HEADER_BYTES} bytes with the shadow's headers added`;
  }
  return undefined;
}

/**
 * Which targets one request goes to: the breakers' own admission (the tap decided on a view of them that may be a
 * moment old), and each URL target's request URL, built once up front so that a hostile path is one `skipped`
 * record rather than one error per target.
 */
import type { Admitted } from './request-group.js';
import type { TargetRuntime } from './target-runtime.js';
import { shadowUrlFor } from './target-url.js';

/**
 * The targets the breakers let through, or none when no candidate is among them (a secondary alone compares with
 * nothing): then the probes taken are given back.
 */
export function admitAtBreakers(targets: ReadonlyMap<string, TargetRuntime>, names: readonly string[]): Admitted[] {
  const selected: Admitted[] = [];
  let candidates = 0;
  for (const name of names) {
    const target = targets.get(name);
    if (!target) continue;
    const admission = target.breaker.admit();
    if (admission === 'no') {
      target.breakerOpenInPeriod++;
      continue;
    }
    if (target.config.role === 'candidate') candidates++;
    selected.push({ target, isProbe: admission === 'probe' });
  }
  if (candidates > 0) return selected;
  releaseProbes(selected);
  return [];
}

export function releaseProbes(selection: readonly Admitted[]): void {
  for (const { target, isProbe } of selection) if (isProbe) target.breaker.releaseProbe();
}

/**
 * The request URL of each target of `selection`, in its order (undefined for a function target), or undefined when
 * `shadowPath` cannot be mirrored to one of them.
 */
export function shadowUrls(selection: readonly Admitted[], shadowPath: string): (URL | undefined)[] | undefined {
  const urls: (URL | undefined)[] = [];
  for (const { target } of selection) {
    if (target.config.endpoint.kind !== 'url') {
      urls.push(undefined);
      continue;
    }
    const url = shadowUrlFor(target.config.endpoint.url, shadowPath);
    if (!url) return undefined;
    urls.push(url);
  }
  return urls;
}

/**
 * Host names of shadow targets, resolved exactly as the app's own `dns.lookup` would (the system resolver:
 * `/etc/hosts`, the `search` list and `ndots` of resolv.conf, nsswitch, the address order), yet never at the cost of
 * the app's own lookups. `dns.lookup` runs `getaddrinfo` on libuv's threadpool, which every thread of the process
 * shares: a resolver that never answers would hold one thread per shadow call, and the app's lookups and file I/O
 * would wait behind them. So:
 * - at most one shadow lookup is on the threadpool at a time, in this thread (one engine per process); the others
 *   wait for it, and concurrent lookups of one name share one call;
 * - answers (and failures) are kept for a second, so a busy shadow costs one lookup per name per second;
 * - a caller that waits longer than half its call's timeout gets `dns_timeout` (counted like any failed call), while
 *   the stuck lookup keeps its one thread until the system resolver gives up.
 * With `dnsServers`, names are resolved with c-ares against those servers instead (no hosts file, no search list).
 */
import dns, { Resolver, type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';

interface Address {
  address: string;
  family: 4 | 6;
}

type Answer = { error: NodeJS.ErrnoException; addresses?: undefined } | { error?: undefined; addresses: Address[] };

/** How long an answer of the system resolver is reused: it gives no TTL, and a second bounds both staleness and load. */
const SYSTEM_ANSWER_MS = 1000;
const MIN_TTL_MS = 1000;
const MAX_TTL_MS = 5 * 60_000;
const MAX_CACHED_NAMES = 1000;
const DNS_TIMEOUT_CODE = 'dns_timeout';

export function createShadowLookup(options: { timeoutMs: number; servers?: readonly string[] | undefined }): LookupFunction {
  const cares = options.servers !== undefined && options.servers.length > 0;
  const resolveAll = cares ? caresResolver(options.timeoutMs, options.servers!) : systemResolver();
  // c-ares times out on its own and holds no thread; a system lookup may wait behind another, or never end.
  const waitMs = cares ? undefined : Math.max(1, Math.floor(options.timeoutMs / 2));
  return ((hostname: string, lookupOptions: LookupOptions, callback: (...args: unknown[]) => void) => {
    const family = familyOf(lookupOptions?.family);
    const answer = (result: Answer): void => {
      if (result.error) return callback(result.error);
      const usable = family === 4 || family === 6 ? result.addresses.filter((a) => a.family === family) : result.addresses;
      if (usable.length === 0) return callback(errorWithCode(`no IPv${family} address for ${hostname}`, 'ENOTFOUND'));
      if (lookupOptions?.all) return callback(null, usable);
      return callback(null, usable[0]!.address, usable[0]!.family);
    };
    const literal = isIP(hostname);
    if (literal) return answer({ addresses: [{ address: hostname, family: literal as 4 | 6 }] });
    // A holder, not a variable: a cached answer calls back before the timer exists.
    const wait: { timer?: NodeJS.Timeout } = {};
    const leave = resolveAll(hostname, lookupOptions ?? {}, (result) => {
      clearTimeout(wait.timer);
      answer(result);
    });
    if (waitMs === undefined || !leave) return;
    wait.timer = setTimeout(() => {
      // A caller that gives up stops waiting: a lookup that never ends holds one thread, not every caller since.
      leave();
      answer({ error: errorWithCode(`the system resolver did not answer for ${hostname} within ${waitMs} ms`, DNS_TIMEOUT_CODE) });
    }, waitMs);
  }) as LookupFunction;
}

/** Calls `done` once with the answer; returns how to stop waiting for it, when it did not answer at once. */
type Resolve = (hostname: string, options: LookupOptions, done: (answer: Answer) => void) => (() => void) | undefined;

/** Lookups of one name (and family, hints) waiting for one `dns.lookup` call. */
interface Pending {
  key: string;
  hostname: string;
  options: LookupOptions;
  waiters: ((answer: Answer) => void)[];
}

/** The one `dns.lookup` of this thread on the threadpool, and the lookups waiting for it to end. */
const gate = { busy: false, queue: [] as Pending[] };

function systemResolver(): Resolve {
  const cache = new Map<string, { answer: Answer; expires: number }>();
  const pending = new Map<string, Pending>();
  const run = (lookup: Pending): void => {
    gate.busy = true;
    const { family, hints, order, verbatim } = lookup.options as LookupOptions & { order?: 'ipv4first' | 'ipv6first' | 'verbatim' };
    const settle = (answer: Answer): void => {
      pending.delete(lookup.key);
      remember(cache, lookup.key, answer, SYSTEM_ANSWER_MS);
      for (const waiter of lookup.waiters) waiter(answer);
      next();
    };
    try {
      dns.lookup(lookup.hostname, { all: true, ...definedOnly({ family, hints, order, verbatim }) }, (error, addresses: LookupAddress[]) => {
        settle(error ? { error } : { addresses: addresses.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 })) });
      });
    } catch (error) {
      settle({ error: error as NodeJS.ErrnoException });
    }
  };
  const next = (): void => {
    gate.busy = false;
    const lookup = gate.queue.shift();
    if (lookup) run(lookup);
  };
  return (hostname, options, done) => {
    const key = `${hostname}\u0000${options.family ?? 0}\u0000${options.hints ?? 0}`;
    const cached = cache.get(key);
    if (cached && cached.expires > Date.now()) return void done(cached.answer);
    let lookup = pending.get(key);
    if (lookup) lookup.waiters.push(done);
    else {
      lookup = { key, hostname, options, waiters: [done] };
      pending.set(key, lookup);
      if (gate.busy) gate.queue.push(lookup);
      else run(lookup);
    }
    const joined = lookup;
    return () => {
      const at = joined.waiters.indexOf(done);
      if (at !== -1) joined.waiters.splice(at, 1);
      // Nobody waits for a lookup that has not started: it need not start.
      const queued = gate.queue.indexOf(joined);
      if (joined.waiters.length === 0 && queued !== -1) {
        gate.queue.splice(queued, 1);
        pending.delete(joined.key);
      }
    };
  };
}

/** c-ares against the servers given: answers cached for their TTL (at least a second, at most five minutes). */
function caresResolver(timeoutMs: number, servers: readonly string[]): Resolve {
  const resolver = new Resolver({ timeout: Math.max(1, Math.min(timeoutMs, 10_000)), tries: 1 });
  resolver.setServers([...servers]);
  const cache = new Map<string, { answer: Answer; expires: number }>();
  return (hostname, _options, done) => {
    const cached = cache.get(hostname);
    if (cached && cached.expires > Date.now()) return void done(cached.answer);
    resolver.resolve4(hostname, { ttl: true }, (error4, v4) => {
      if (!error4 && v4.length > 0) return done(remember(cache, hostname, { addresses: v4.map((r) => ({ address: r.address, family: 4 })) }, v4[0]!.ttl * 1000));
      resolver.resolve6(hostname, { ttl: true }, (error6, v6) => {
        if (!error6 && v6.length > 0) return done(remember(cache, hostname, { addresses: v6.map((r) => ({ address: r.address, family: 6 })) }, v6[0]!.ttl * 1000));
        done({ error: error4 ?? error6 ?? errorWithCode(`no address for ${hostname}`, 'ENOTFOUND') });
      });
    });
    return undefined;
  };
}

function remember(cache: Map<string, { answer: Answer; expires: number }>, key: string, answer: Answer, ttlMs: number): Answer {
  if (cache.size >= MAX_CACHED_NAMES) cache.clear();
  cache.set(key, { answer, expires: Date.now() + Math.min(MAX_TTL_MS, Math.max(MIN_TTL_MS, ttlMs)) });
  return answer;
}

function familyOf(family: LookupOptions['family']): 0 | 4 | 6 {
  if (family === 4 || family === 'IPv4') return 4;
  if (family === 6 || family === 'IPv6') return 6;
  return 0;
}

function definedOnly<T extends Record<string, unknown>>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as Partial<T>;
}

function errorWithCode(message: string, code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

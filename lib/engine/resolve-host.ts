/**
 * Host names of shadow targets are resolved with c-ares (`dns.Resolver`), never `dns.lookup`: `dns.lookup` runs
 * `getaddrinfo` on libuv's threadpool, which every thread of the process shares, so a resolver that never answers
 * for the shadow's host would hold the threads the app's own lookups and file I/O need. Answers are cached for
 * their TTL (at least a second, at most five minutes).
 */
import { Resolver } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';

interface Address {
  address: string;
  family: 4 | 6;
}

const MIN_TTL_MS = 1000;
const MAX_TTL_MS = 5 * 60_000;
const LOCALHOST: Address[] = [
  { address: '127.0.0.1', family: 4 },
  { address: '::1', family: 6 },
];

export function createShadowLookup(options: { timeoutMs: number; servers?: readonly string[] | undefined }): LookupFunction {
  const resolver = new Resolver({ timeout: Math.max(1, Math.min(options.timeoutMs, 10_000)), tries: 1 });
  if (options.servers && options.servers.length > 0) resolver.setServers([...options.servers]);
  const cache = new Map<string, { addresses: Address[]; expires: number }>();

  const resolveAll = (hostname: string, done: (error: NodeJS.ErrnoException | null, addresses: Address[]) => void): void => {
    const cached = cache.get(hostname);
    if (cached && cached.expires > Date.now()) return done(null, cached.addresses);
    resolver.resolve4(hostname, { ttl: true }, (error4, v4) => {
      if (!error4 && v4.length > 0) return remember(hostname, v4.map((r) => ({ address: r.address, family: 4 as const })), v4[0]!.ttl, done);
      resolver.resolve6(hostname, { ttl: true }, (error6, v6) => {
        if (!error6 && v6.length > 0) return remember(hostname, v6.map((r) => ({ address: r.address, family: 6 as const })), v6[0]!.ttl, done);
        done(error4 ?? error6 ?? Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), []);
      });
    });
  };

  const remember = (hostname: string, addresses: Address[], ttlSeconds: number, done: (error: null, addresses: Address[]) => void): void => {
    const ttl = Math.min(MAX_TTL_MS, Math.max(MIN_TTL_MS, ttlSeconds * 1000));
    if (cache.size > 1000) cache.clear();
    cache.set(hostname, { addresses, expires: Date.now() + ttl });
    done(null, addresses);
  };

  return ((hostname: string, lookupOptions: { family?: number | string; all?: boolean }, callback: (...args: unknown[]) => void) => {
    const answer = (error: NodeJS.ErrnoException | null, found: Address[]): void => {
      const family = Number(lookupOptions?.family) || 0;
      const usable = family === 4 || family === 6 ? found.filter((a) => a.family === family) : found;
      if (error || usable.length === 0) return callback(error ?? Object.assign(new Error(`no IPv${family} address for ${hostname}`), { code: 'ENOTFOUND' }));
      if (lookupOptions?.all) return callback(null, usable);
      return callback(null, usable[0]!.address, usable[0]!.family);
    };
    const literal = isIP(hostname);
    if (literal) return answer(null, [{ address: hostname, family: literal as 4 | 6 }]);
    if (hostname === 'localhost' || hostname.endsWith('.localhost')) return answer(null, LOCALHOST);
    resolveAll(hostname, answer);
  }) as LookupFunction;
}

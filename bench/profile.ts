/**
 * Reading a V8 CPU profile (`.cpuprofile`, what `node --cpu-prof` writes) of the app: where its CPU time went, by
 * stage of the mirror and by dependency.
 *
 * Every sample is charged to the innermost frame that is not Node's own code (`node:*`): Node's HTTP, stream and
 * buffer internals count for whoever called them. Two exceptions: time under our `res.write`/`res.end`/`req.push`
 * wrappers that is really the original method doing production's work counts as production; and samples with no
 * userland frame at all (the HTTP parser handing a socket's bytes up, say) are grouped by the Node module.
 */

export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileBreakdown {
  /** Profiled wall time, µs. */
  wallUs: number;
  /** Time the thread was busy (not `(idle)`), µs. */
  busyUs: number;
  /** Busy time by category, µs. */
  categories: Record<string, number>;
  /** Busy time by npm package (charged as above), µs. */
  packages: Record<string, number>;
  /** Our functions by inclusive time (everything under them, including dependencies), µs. */
  libInclusive: { fn: string; us: number }[];
  /** Our functions by self time (with Node internals they called), µs. */
  libSelf: { fn: string; us: number }[];
  /** Dependency functions by self time (with Node internals they called), µs. */
  depSelf: { fn: string; us: number }[];
}

/** Packages that come with got, winston and express (npm ls), so their time is charged to them. */
const FAMILIES: Record<string, string[]> = {
  got: [
    'got', '@sindresorhus/is', '@szmarczak/http-timer', 'cacheable-lookup', 'cacheable-request', 'decompress-response',
    'form-data-encoder', 'http2-wrapper', 'lowercase-keys', 'p-cancelable', 'responselike', 'keyv', 'mimic-response',
    'normalize-url', 'get-stream', '@sec-ant/readable-stream', 'defer-to-connect', 'quick-lru', 'resolve-alpn',
    'chunk-data', 'byte-counter', 'type-fest', 'is-stream', '@keyv/serialize', 'http-cache-semantics',
  ],
  winston: [
    'winston', 'winston-transport', 'logform', 'readable-stream', 'triple-beam', '@colors/colors', 'safe-stable-stringify',
    'fecha', 'ms', 'one-time', 'async', 'stack-trace', '@dabh/diagnostics', 'string_decoder', 'inherits', 'util-deprecate',
    'fn.name', 'kuler', 'colorspace', 'enabled', 'text-hex', 'color', 'color-string', 'color-convert', 'simple-swizzle',
    'is-arrayish', 'color-name', 'safe-buffer',
  ],
  express: [
    'express', 'router', 'body-parser', 'raw-body', 'iconv-lite', 'type-is', 'content-type', 'media-typer', 'mime-types',
    'mime-db', 'on-finished', 'finalhandler', 'debug', 'qs', 'side-channel', 'parseurl', 'path-to-regexp', 'send',
    'etag', 'fresh', 'cookie', 'cookie-signature', 'vary', 'accepts', 'negotiator', 'encodeurl', 'escape-html',
    'merge-descriptors', 'statuses', 'http-errors', 'depd', 'proxy-addr', 'forwarded', 'ipaddr.js', 'range-parser',
    'utils-merge', 'content-disposition', 'setprototypeof', 'toidentifier', 'unpipe', 'ee-first', 'bytes', 'once', 'wrappy',
    'is-promise', 'safer-buffer', 'object-inspect', 'call-bound', 'get-intrinsic', 'es-errors', 'function-bind', 'hasown',
    'math-intrinsics', 'dunder-proto', 'gopd', 'has-symbols', 'es-object-atoms', 'es-define-property', 'call-bind-apply-helpers',
    'get-proto', 'side-channel-list', 'side-channel-map', 'side-channel-weakmap',
  ],
};
const FAMILY_OF = new Map<string, string>();
for (const [family, packages] of Object.entries(FAMILIES)) for (const name of packages) FAMILY_OF.set(name, family);

/** Our modules, by stage of the request path. */
const LIB_STAGE: Record<string, string> = {
  'capture-request': 'capture (ours)',
  'capture-response': 'capture (ours)',
  'stream-events': 'capture (ours)',
  dispatch: 'dispatch (ours)',
  breaker: 'dispatch (ours)',
  'byte-budget': 'dispatch (ours)',
  'target-url': 'dispatch (ours)',
  record: 'logging: record.ts (ours, JSON.stringify)',
  'logged-body': 'record building (ours: bodies, headers)',
  headers: 'record building (ours: bodies, headers)',
  compare: 'comparison (ours)',
  'json-path': 'comparison (ours)',
};

const PRODUCTION = 'production app (bench/app.ts + express)';

export const CATEGORY_ORDER = [
  'production app (bench/app.ts + express)',
  'capture (ours)',
  'middleware glue (ours: middleware.ts, decide, ids)',
  'record building (ours: bodies, headers)',
  'logging: record.ts (ours, JSON.stringify)',
  'logging: winston',
  'dispatch (ours)',
  'dispatch: got',
  'comparison (ours)',
  'node: http server/parser (no userland caller)',
  'node: http client (no userland caller)',
  'node: net/streams/timers (no userland caller)',
  'node: fs (no userland caller)',
  'node: other (no userland caller)',
  'garbage collector',
  'V8/native (program)',
  'other deps',
  'loader (tsx)',
];

interface FrameInfo {
  kind: 'lib' | 'dep' | 'app' | 'node' | 'special';
  category: string;
  pkg?: string;
  name: string;
}

function packageOf(url: string): string | undefined {
  const at = url.lastIndexOf('/node_modules/');
  if (at < 0) return undefined;
  const rest = url.slice(at + '/node_modules/'.length).split('/');
  return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
}

function describeFrame(frame: CpuProfile['nodes'][number]['callFrame']): FrameInfo {
  const { url, functionName, lineNumber } = frame;
  const fn = functionName || '(anonymous)';
  if (!url) {
    if (functionName === '(garbage collector)') return { kind: 'special', category: 'garbage collector', name: fn };
    if (functionName === '(idle)') return { kind: 'special', category: '(idle)', name: fn };
    if (functionName === '(program)') return { kind: 'special', category: 'V8/native (program)', name: fn };
    if (functionName === '(root)') return { kind: 'node', category: 'node: other (no userland caller)', name: fn };
    // Builtins without a script: treated like Node internals, charged to their caller.
    return { kind: 'node', category: 'node: other (no userland caller)', name: fn };
  }
  if (url.startsWith('node:')) {
    const mod = url.slice(5);
    let category = 'node: other (no userland caller)';
    if (/_http_(server|incoming|outgoing|common)|internal\/http/.test(mod)) category = 'node: http server/parser (no userland caller)';
    if (/_http_client|_http_agent/.test(mod)) category = 'node: http client (no userland caller)';
    if (/^net$|internal\/stream|stream|timers|internal\/process\/task_queues|events|internal\/async_hooks/.test(mod)) {
      if (category === 'node: other (no userland caller)') category = 'node: net/streams/timers (no userland caller)';
    }
    if (/fs/.test(mod)) category = 'node: fs (no userland caller)';
    return { kind: 'node', category, name: `${fn} (${mod})` };
  }
  const pkg = packageOf(url);
  if (pkg) {
    const family = FAMILY_OF.get(pkg);
    const category =
      family === 'got' ? 'dispatch: got' : family === 'winston' ? 'logging: winston' : family === 'express' ? 'production app (bench/app.ts + express)' : pkg === 'tsx' || pkg === 'esbuild' ? 'loader (tsx)' : pkg === 'uuid' ? 'middleware glue (ours: middleware.ts, decide, ids)' : 'other deps';
    return { kind: 'dep', category, pkg, name: `${fn} (${pkg}${url.slice(url.indexOf(pkg) + pkg.length)}:${lineNumber + 1})` };
  }
  const lib = /\/lib\/([^/]+)\.(?:ts|js)$/.exec(url);
  if (lib) {
    const file = lib[1]!;
    return { kind: 'lib', category: LIB_STAGE[file] ?? 'middleware glue (ours: middleware.ts, decide, ids)', name: `${fn} (lib/${file}.ts)` };
  }
  return { kind: 'app', category: 'production app (bench/app.ts + express)', name: `${fn} (${url.replace(/^.*\/(bench|lib)\//, '$1/')}:${lineNumber + 1})` };
}

export function analyseProfile(profile: CpuProfile): ProfileBreakdown {
  const byId = new Map<number, CpuProfile['nodes'][number]>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const info = new Map<number, FrameInfo>();
  const frameOf = (id: number) => {
    let found = info.get(id);
    if (!found) info.set(id, (found = describeFrame(byId.get(id)!.callFrame)));
    return found;
  };

  /** Category, package and charged function of a sample whose leaf is `id`. */
  const charged = new Map<number, { category: string; pkg?: string; fn?: FrameInfo; libChain: string[] }>();
  const chargeOf = (leaf: number) => {
    const known = charged.get(leaf);
    if (known) return known;
    const leafInfo = frameOf(leaf);
    let result: { category: string; pkg?: string; fn?: FrameInfo; libChain: string[] };
    const libChain = new Set<string>();
    for (let id: number | undefined = leaf; id !== undefined; id = parent.get(id)) {
      const frame = frameOf(id);
      if (frame.kind === 'lib') libChain.add(frame.name);
    }
    if (leafInfo.kind === 'special') {
      result = { category: leafInfo.category, libChain: [] };
    } else {
      let below: FrameInfo | undefined;
      let owner: FrameInfo | undefined;
      for (let id: number | undefined = leaf; id !== undefined; id = parent.get(id)) {
        const frame = frameOf(id);
        if (frame.kind !== 'node') {
          owner = frame;
          break;
        }
        below = frame;
      }
      if (!owner) result = { category: nodeOnlyCategory(leaf), libChain: [...libChain] };
      else if (owner.category === 'capture (ours)' && below && /\b(end|write|push)\b|_write|writeHead/.test(below.name)) {
        // Our wrapper calling the original res.end/res.write/req.push: that is production's own work.
        result = { category: PRODUCTION, libChain: [...libChain] };
      } else {
        result = { category: owner.category, ...(owner.pkg ? { pkg: owner.pkg } : {}), fn: owner, libChain: [...libChain] };
      }
    }
    charged.set(leaf, result);
    return result;
  };

  /** A stack of Node internals only: the most telling module anywhere on it (a log write deep in a stream callback is fs). */
  function nodeOnlyCategory(leaf: number): string {
    const modules: string[] = [];
    for (let id: number | undefined = leaf; id !== undefined; id = parent.get(id)) modules.push(byId.get(id)!.callFrame.url);
    if (modules.some((url) => /^node:(fs|internal\/fs)/.test(url))) return 'node: fs (no userland caller)';
    if (modules.some((url) => /_http_client|_http_agent/.test(url))) return 'node: http client (no userland caller)';
    if (modules.some((url) => /_http_server|_http_incoming|_http_outgoing|_http_common/.test(url))) return 'node: http server/parser (no userland caller)';
    if (modules.some((url) => /^node:(net|stream|timers|events|internal\/(stream|timers|process\/task_queues|async_hooks))/.test(url))) {
      return 'node: net/streams/timers (no userland caller)';
    }
    return frameOf(leaf).category;
  }

  const categories: Record<string, number> = {};
  const packages: Record<string, number> = {};
  const libInclusive = new Map<string, number>();
  const libSelf = new Map<string, number>();
  const depSelf = new Map<string, number>();
  let busyUs = 0;
  let wallUs = 0;
  const add = (map: Map<string, number>, key: string, us: number) => map.set(key, (map.get(key) ?? 0) + us);
  for (let i = 0; i < profile.samples.length; i++) {
    const us = profile.timeDeltas[i + 1] ?? 0;
    wallUs += us;
    const charge = chargeOf(profile.samples[i]!);
    if (charge.category === '(idle)') continue;
    busyUs += us;
    categories[charge.category] = (categories[charge.category] ?? 0) + us;
    if (charge.pkg) packages[charge.pkg] = (packages[charge.pkg] ?? 0) + us;
    for (const name of charge.libChain) add(libInclusive, name, us);
    if (charge.fn?.kind === 'lib') add(libSelf, charge.fn.name, us);
    if (charge.fn?.kind === 'dep') add(depSelf, charge.fn.name, us);
  }
  const top = (map: Map<string, number>, n: number) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([fn, us]) => ({ fn, us }));
  return { wallUs, busyUs, categories, packages, libInclusive: top(libInclusive, 25), libSelf: top(libSelf, 20), depSelf: top(depSelf, 25) };
}

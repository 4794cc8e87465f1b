/**
 * What the tap's thread can see of a worker that no longer answers: a SharedArrayBuffer the worker writes to.
 * - A time budget for the app's hooks that run in the worker (`transformRequest`, `transformResponse`, a `compare`
 *   function, `assemble`). A hook stuck in a loop (a catastrophic regex on an answer, say) blocks the worker's
 *   thread, and nothing on that thread can stop it; the tap's thread can. Before a hook runs, its deadline and the
 *   exchange it works on are written here; the tap checks the deadline and, once it has passed, terminates the
 *   worker, logs that exchange as `hook_timeout` through the next worker, and carries on.
 * - The number of the last exchange the worker took in, so after a crash or a termination the tap sends the
 *   exchanges the worker never started to the next one instead of losing them.
 * A few stores per exchange on the hot path; nothing at all when the engine runs in the app's thread.
 */

/** Slots: [0] hook deadline (epoch ms, 0 when no hook runs), [1] bytes of the exchange's JSON, [2] last exchange taken in. */
const HEADER_BYTES = 24;
const CONTEXT_BYTES = 4096;
export const WATCHDOG_BYTES = HEADER_BYTES + CONTEXT_BYTES;

/** What the tap needs to log the exchange a stuck hook was working on. */
export interface HookContext {
  instance: number;
  requestId: string;
  clientRequestId?: string | undefined;
  method: string;
  path: string;
  route: string | null;
  status: number;
  hook: string;
}

let slots: Float64Array | undefined;
let bytes: Uint8Array | undefined;
/** The JSON of the exchange being worked on (without `hook`), made once per exchange. */
let current: string | undefined;
const encoder = new TextEncoder();

/** In the worker: the buffer the tap watches. */
export function installWatchdog(buffer: SharedArrayBuffer | undefined): void {
  if (!buffer) return;
  slots = new Float64Array(buffer, 0, 3);
  bytes = new Uint8Array(buffer, HEADER_BYTES, CONTEXT_BYTES);
}

/** In the worker: exchange number `n` has been taken in. */
export function markTakenIn(n: number | undefined): void {
  // The highest: an instance still loading its hooks starts an earlier exchange after later ones of other instances.
  if (slots && n !== undefined && n > slots[2]!) slots[2] = n;
}

/** On the tap's side: the number of the last exchange the worker took in. */
export function takenInUpTo(buffer: SharedArrayBuffer): number {
  return new Float64Array(buffer, 0, 3)[2]!;
}

/** The exchange the pipeline is working on, for the record a stuck hook would need: `hookContext()`'s JSON. */
export function workingOn(context: string | undefined): void {
  current = context;
}

/** What `workingOn` takes: the exchange's context as JSON, cut to fit the buffer. Made once per exchange. */
export function hookContext(context: Omit<HookContext, 'hook'>): string {
  return JSON.stringify(context).slice(0, CONTEXT_BYTES / 3);
}

/** Runs a hook under the budget. */
export function timedHook<T>(hook: string, budgetMs: number, run: () => T): T {
  if (!slots || !bytes) return run();
  const written = current ? encoder.encodeInto(`{"hook":${JSON.stringify(hook)},${current.slice(1)}`, bytes).written : 0;
  slots[1] = written;
  slots[0] = Date.now() + budgetMs;
  try {
    return run();
  } finally {
    slots[0] = 0;
  }
}

/** On the tap's side, once the worker running an overdue hook is ended: the next worker starts with a clean slate. */
export function clearHook(buffer: SharedArrayBuffer): void {
  new Float64Array(buffer, 0, 3).fill(0);
}

/** On the tap's side: the exchange whose hook is past its deadline, if any. */
export function overdueHook(buffer: SharedArrayBuffer, now = Date.now()): HookContext | 'unknown' | undefined {
  const view = new Float64Array(buffer, 0, 3);
  const deadline = view[0]!;
  if (deadline === 0 || now <= deadline) return undefined;
  try {
    const length = view[1]!;
    if (length === 0) return 'unknown';
    return JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, HEADER_BYTES, length).slice())) as HookContext;
  } catch {
    return 'unknown';
  }
}

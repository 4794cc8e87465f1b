/**
 * How the demo's servers talk to the orchestrator (`run.ts`) and stop.
 *
 * A server announces itself with one JSON line on stdout (`{"event":"listening","url":...}`), which is readable for a
 * person running it by hand and parseable for `run.ts`. It stops on SIGTERM, on SIGINT, and when the orchestrator
 * that spawned it disappears (its IPC channel closes), so no server outlives a killed demo.
 */
import { pathToFileURL } from 'node:url';

/** Writes one event as a JSON line on stdout. */
export function announce(event: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
}

// Once the orchestrator is gone, nobody reads our stdout: a write must not crash the drain.
process.stdout.on('error', () => {});

/**
 * Runs `stop` once, on the first SIGTERM, SIGINT or loss of the parent. The process then ends by itself once
 * `stop` has closed everything; a timer that does not hold the event loop open ends it anyway if a handle leaks.
 */
export function onStop(stop: (reason: string) => Promise<void>, options: { forceAfterMs?: number } = {}): void {
  let stopping = false;
  const run = (reason: string): void => {
    if (stopping) return;
    stopping = true;
    stop(reason)
      .catch((error: unknown) => {
        console.error(error);
        process.exitCode = 1;
      })
      .finally(() => {
        if (process.connected) process.disconnect();
        setTimeout(() => process.exit(), options.forceAfterMs ?? 2000).unref();
      });
  };
  process.on('SIGTERM', () => run('SIGTERM'));
  process.on('SIGINT', () => run('SIGINT'));
  if (process.connected) {
    process.on('disconnect', () => run('parent exited'));
    // Listening for 'disconnect' refs the channel; it must not be what keeps us alive.
    process.channel?.unref();
  }
}

/** True when `moduleUrl` (pass `import.meta.url`) is the script Node was asked to run. */
export function isMain(moduleUrl: string): boolean {
  const script = process.argv[1];
  return script !== undefined && pathToFileURL(script).href === moduleUrl;
}

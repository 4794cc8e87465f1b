/** Resolves `'done'` when `work` settles or `'timeout'` after `timeoutMs`, whichever is first; never rejects. */
export function withTimeout(work: Promise<unknown>, timeoutMs: number): Promise<'done' | 'timeout'> {
  const ms = Number.isFinite(timeoutMs) && timeoutMs > 0 ? timeoutMs : 0;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  const done = work.then(
    () => 'done' as const,
    () => 'done' as const,
  );
  return Promise.race([done, timedOut]).finally(() => clearTimeout(timer));
}

/** Errors of `replayShadowLog` (rejections of `done`); bad options throw `ShadowOptionsError` at once. */

export type ShadowReplayErrorCode = 'ERR_SHADOW_REPLAY_OUTPUT_EXISTS' | 'ERR_SHADOW_REPLAY_HOOK';

export class ShadowReplayError extends Error {
  override readonly name = 'ShadowReplayError';
  constructor(
    readonly code: ShadowReplayErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

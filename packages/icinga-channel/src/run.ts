import { basename } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { ChannelPlugin } from './plugin.js';
import { LineSplitter } from './rpc.js';

/** Longest request line read, bytes; a longer one is answered with a parse error and skipped. */
export const MAX_LINE_BYTES = 4 * 1024 * 1024;

/**
 * The channel type from the path the daemon started the plugin as
 * (`<channels dir>/<type>`, upstream `exec.Command(filepath.Join(ChannelsDir, type))`):
 * its file name, without a `.mjs`/`.js` extension when run from the build output.
 */
export function channelType(scriptPath: string | undefined): string {
  const name = basename(scriptPath ?? 'pushgate').replace(/\.(?:mjs|js)$/, '');
  return name === '' ? 'pushgate' : name;
}

/** Options of {@link runPlugin}. */
export interface RunOptions {
  /** See {@link channelType}. */
  type: string;
  input: Readable;
  output: Writable;
}

/** A running plugin. */
export interface Running {
  readonly plugin: ChannelPlugin;
  /** Resolves with the exit code once the plugin stopped: stdin ended or {@link Running.stop} was called. */
  readonly done: Promise<number>;
  /** Stop (SIGTERM): finish the notifications in flight, answer nothing new. */
  stop(): void;
}

/** Serve the protocol on `input`/`output` until stdin ends or `stop()`. */
export function runPlugin(opts: RunOptions): Running {
  const { input, output } = opts;
  const plugin = new ChannelPlugin({ type: opts.type, write: (line) => output.write(line) });
  const splitter = new LineSplitter(MAX_LINE_BYTES, (line) => plugin.handleLine(line), () => plugin.overlong(MAX_LINE_BYTES));
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => { resolveDone = r; });
  let stopping = false;
  const onData = (chunk: Buffer): void => splitter.push(chunk);
  const finish = (): void => {
    if (stopping) return;
    stopping = true;
    input.off('data', onData);
    input.pause();
    void plugin.drain().then(() => {
      // Everything written is flushed before the exit code is reported (unless the daemon's end is gone).
      if (output.destroyed || output.writableEnded) resolveDone(0);
      else output.write('', () => resolveDone(0));
    });
  };
  input.on('data', onData);
  // The daemon closes the connection (stdin) before it sends SIGTERM (upstream pluginSupervisor.Stop).
  input.on('end', () => {
    splitter.end();
    finish();
  });
  input.on('error', finish);
  // The daemon went away (EPIPE): nobody reads the answers any more.
  output.on('error', finish);
  return { plugin, done, stop: finish };
}

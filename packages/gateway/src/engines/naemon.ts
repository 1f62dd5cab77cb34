import { constants } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeObject, errorReason, parseObjectKey, type AcknowledgeRequest, type AcknowledgeResult, type Engine, type EngineObject } from './engine.js';
import { findObjectStatus } from './naemon-status.js';

/**
 * Naemon (and Nagios) as openITCOCKPIT runs it: acknowledgements are
 * external commands written to the engine's command pipe (docs/acknowledge.md).
 *
 * openITCOCKPIT's generated naemon.cfg (src/config_templates/nagios/nagios.cfg,
 * openITCOCKPIT/openITCOCKPIT@1cbd1ce1) sets
 * `command_file=/opt/openitc/nagios/var/rw/nagios.cmd` and
 * `status_file=/opt/openitc/nagios/var/status.dat`; its config generator
 * (NagiosConfigGenerator.php) names every host by its uuid (`host_name`) and
 * every service by its uuid (`service_description`), and its own
 * acknowledgements (Monitoring/Naemon/ExternalCommands.php) are
 * `ACKNOWLEDGE_SVC_PROBLEM;<hostUuid>;<serviceUuid>;<sticky 0|2>;<notify>;1;<author>;<comment>`.
 * Sticky is written as 2: Nagios 4 treats only 2 as sticky, Naemon any
 * non-zero value (naemon-core src/naemon/commands.c).
 *
 * The pipe answers nothing: `done` means an engine process had the pipe
 * open and took the line, and the status file showed a problem. Left open:
 * an engine that died a moment ago may still have a helper holding the pipe
 * (nagios4's command file worker lingers about a second after its main
 * process was killed); a line written then is lost and still reported done.
 */

export { NaemonEngineSchema, type NaemonEngineConfig } from './config.js';

/** Settings of a {@link NaemonEngine}: the parsed config, plus the status poll interval for tests. */
export interface NaemonEngineOptions {
  commandFile: string;
  statusFile?: string | null;
  /** Default 15000. */
  statusWaitMs?: number;
  /** How often the status file's mtime is checked while waiting, ms; default 250. */
  statusPollMs?: number;
}

/**
 * Writes of at most PIPE_BUF bytes to a pipe are atomic (POSIX; 4096 on
 * Linux): a command never interleaves with one written by the web interface
 * or Statusengine at the same moment.
 */
export const MAX_COMMAND_BYTES = 4096;

// C0 controls and DEL: a line break would end the command early and let the rest be read as another one.
const CONTROL = /[\u0000-\u001f\u007f]/;

const HOST_STATES: Record<string, string> = { '0': 'UP', '1': 'DOWN', '2': 'UNREACHABLE' };
const SERVICE_STATES: Record<string, string> = { '0': 'OK', '1': 'WARNING', '2': 'CRITICAL', '3': 'UNKNOWN' };

/**
 * Naemon hands the author and comment to notification commands as
 * $NOTIFICATIONAUTHOR$ / $NOTIFICATIONCOMMENT$ without cleaning them; in a
 * command line that puts them in double quotes (openITCOCKPIT's own
 * send_push_notification command does) these characters would let the text
 * run shell commands as the naemon user. No one needs them to acknowledge.
 */
const SHELL_SPECIAL = /["`$\\]/;

/** Why a field cannot go into a command line, or undefined when it can. */
function fieldProblem(name: string, value: string, text: boolean): string | undefined {
  if (value === '') return `the ${name} is empty`;
  if (CONTROL.test(value)) return `the ${name} contains a line break or another control character`;
  // The comment is the last field, where Naemon and Nagios take ";" as part of the text.
  if (name !== 'comment' && value.includes(';')) return `the ${name} contains ";", which separates the command's fields`;
  if (text && SHELL_SPECIAL.test(value)) return `the ${name} contains one of " \` $ \\, which the engine would pass unfiltered to notification commands`;
  return undefined;
}

/**
 * The external command line for `request`, `[<time>] ACKNOWLEDGE_…;…\n`, or
 * the reason it cannot be written.
 */
export function acknowledgeCommand(o: EngineObject, request: AcknowledgeRequest, nowS: number): { line: string } | { error: string } {
  const problem = fieldProblem('host name', o.host, false)
    ?? (o.service === undefined ? undefined : fieldProblem('service name', o.service, false))
    ?? fieldProblem('author', request.author, true)
    ?? fieldProblem('comment', request.comment, true);
  if (problem !== undefined) return { error: problem };
  const flags = `${request.sticky ? 2 : 0};${request.notify ? 1 : 0};${request.persistent ? 1 : 0}`;
  const target = o.service === undefined ? `ACKNOWLEDGE_HOST_PROBLEM;${o.host}` : `ACKNOWLEDGE_SVC_PROBLEM;${o.host};${o.service}`;
  const line = `[${nowS}] ${target};${flags};${request.author};${request.comment}\n`;
  const bytes = Buffer.byteLength(line);
  if (bytes > MAX_COMMAND_BYTES) return { error: `the command would be ${bytes} bytes, more than the ${MAX_COMMAND_BYTES} a pipe takes in one piece (shorten the comment)` };
  return { line };
}

/** Why the status says no, or undefined when there is a problem to acknowledge. */
function refusal(o: EngineObject, status: Record<string, string> | undefined): string | undefined {
  const what = describeObject(o);
  if (status === undefined) return `the engine does not know ${what}`;
  const state = status.current_state ?? '';
  const name = (o.service === undefined ? HOST_STATES : SERVICE_STATES)[state] ?? `state ${state}`;
  if (state === '0') return `${what} is ${name}: there is no problem to acknowledge`;
  if (status.problem_has_been_acknowledged === '1') return `${what} (${name}) is already acknowledged`;
  return undefined;
}

function openFailure(path: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  // O_NONBLOCK: opening a FIFO for writing fails with ENXIO at once when nobody has it open for reading.
  if (code === 'ENXIO') return `nothing reads the command pipe ${path}: the engine is not running`;
  if (code === 'ENOENT') return `the command pipe ${path} does not exist: the engine is not running (or command_file differs)`;
  if (code === 'EACCES') return `no permission to write the command pipe ${path} (pushgate's user needs the engine's command group)`;
  return `cannot open the command pipe ${path}: ${errorReason(err)}`;
}

/** Acknowledgements through Naemon's (or Nagios's) external command pipe. */
export class NaemonEngine implements Engine {
  readonly type = 'naemon';
  readonly #commandFile: string;
  readonly #statusFile: string | null;
  readonly #statusWaitMs: number;
  readonly #statusPollMs: number;

  constructor(opts: NaemonEngineOptions) {
    this.#commandFile = opts.commandFile;
    this.#statusFile = opts.statusFile ?? null;
    this.#statusWaitMs = opts.statusWaitMs ?? 15_000;
    this.#statusPollMs = opts.statusPollMs ?? 250;
  }

  async acknowledge(request: AcknowledgeRequest): Promise<AcknowledgeResult> {
    const startedMs = Date.now();
    const o = parseObjectKey(request.objectKey);
    if ('error' in o) return { outcome: 'refused', reason: `not sent: ${o.error}` };
    const command = acknowledgeCommand(o, request, Math.floor(startedMs / 1000));
    if ('error' in command) return { outcome: 'refused', reason: `not sent: ${command.error}` };

    let fh: FileHandle;
    try {
      // Non-blocking: a plain open of a FIFO waits for a reader, so a dead engine would hang us.
      fh = await open(this.#commandFile, constants.O_WRONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    } catch (err) {
      return { outcome: 'unreachable', reason: openFailure(this.#commandFile, err) };
    }
    try {
      if (!(await fh.stat()).isFIFO()) return { outcome: 'unreachable', reason: `${this.#commandFile} is not a named pipe (is it the engine's command_file?)` };
      if (this.#statusFile !== null) {
        const verdict = await this.#checkStatus(this.#statusFile, o, startedMs);
        if (verdict !== undefined) return verdict;
      }
      const buf = Buffer.from(command.line);
      try {
        const { bytesWritten } = await fh.write(buf);
        // Cannot happen for <= PIPE_BUF bytes (all or nothing); said plainly should a platform differ.
        if (bytesWritten !== buf.length) return { outcome: 'unreachable', reason: `the command pipe took ${bytesWritten} of ${buf.length} bytes` };
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') return { outcome: 'unreachable', reason: `the command pipe ${this.#commandFile} is full: the engine is not reading it` };
        if (code === 'EPIPE') return { outcome: 'unreachable', reason: `the engine closed its command pipe ${this.#commandFile}` };
        return { outcome: 'unreachable', reason: `cannot write the command pipe ${this.#commandFile}: ${errorReason(err)}` };
      }
      const name = o.service === undefined ? 'ACKNOWLEDGE_HOST_PROBLEM' : 'ACKNOWLEDGE_SVC_PROBLEM';
      return { outcome: 'done', reason: `${name} for ${describeObject(o)} written to the engine's command pipe` };
    } finally {
      await fh.close();
    }
  }

  /**
   * The engine's view before writing: undefined to go ahead, else the
   * result. A "no" from a file written before the request is re-checked on
   * each newer file until one written after it, or until statusWaitMs.
   */
  async #checkStatus(file: string, o: EngineObject, startedMs: number): Promise<AcknowledgeResult | undefined> {
    const deadline = startedMs + this.#statusWaitMs;
    const startedS = Math.floor(startedMs / 1000);
    let lastMtime = -1;
    let last = { no: '', created: 0 };
    for (;;) {
      try {
        const mtime = (await stat(file)).mtimeMs;
        if (mtime !== lastMtime) {
          lastMtime = mtime;
          const found = await findObjectStatus(file, o.host, o.service);
          const no = refusal(o, found.status);
          if (no === undefined) return undefined;
          // `created` has whole seconds: only a later second is surely after the request.
          if (found.created > startedS) return { outcome: 'refused', reason: no };
          last = { no, created: found.created };
        }
      } catch (err) {
        return { outcome: 'unreachable', reason: `cannot read the engine's status file ${file}: ${errorReason(err)}` };
      }
      if (Date.now() >= deadline) {
        const age = Math.max(0, startedS - last.created);
        return { outcome: 'refused', reason: `${last.no} (by the engine's status file of ${age} s before; no newer one within ${this.#statusWaitMs} ms)` };
      }
      await sleep(Math.min(this.#statusPollMs, Math.max(1, deadline - Date.now())));
    }
  }

  async close(): Promise<void> {
    // Nothing held between calls: the pipe is opened per acknowledgement.
  }
}

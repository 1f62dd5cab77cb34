import { readFile } from 'node:fs/promises';
import { CHECK_USAGE, parseCheckArgs, runCheck, usageResult } from '../ops/check.js';

/** `pushgate check`: one Nagios status line on stdout; exit 0/1/2/3 (ops/check.ts). `envKey`: `PUSHGATE_API_KEY`. */
export async function checkCommand(argv: string[], envKey: string | undefined, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const parsed = parseCheckArgs(argv, envKey);
  if (!parsed.ok) err.write(CHECK_USAGE);
  if (parsed.ok && 'keyFile' in parsed) {
    try {
      parsed.options.apiKey = (await readFile(parsed.keyFile, 'utf8')).trim();
    } catch (e) {
      out.write(`${usageResult(`cannot read --key-file: ${(e as NodeJS.ErrnoException).code ?? 'error'}`).line}\n`);
      return 3;
    }
  }
  const result = parsed.ok ? await runCheck(parsed.options) : usageResult(parsed.message);
  out.write(`${result.line}\n`);
  return result.code;
}

import { fetchStatus, formatStatus } from '../ops/status.js';
import { USAGE } from './usage.js';

/** `pushgate status [--url <url>]`: the terminal summary of `GET /status`; exit 1 when unreachable, 2 on bad arguments. */
export async function statusCommand(argv: readonly string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  let url = 'http://127.0.0.1:8083';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--url' && argv[i + 1]) url = argv[++i] as string;
    else if (a.startsWith('--url=') && a.length > 6) url = a.slice(6);
    else {
      err.write(`pushgate: status: unexpected argument ${a}\n\n${USAGE}`);
      return 2;
    }
  }
  try {
    out.write(formatStatus(url, await fetchStatus(url)));
    return 0;
  } catch (e) {
    err.write(`pushgate: ${(e as Error).message}\n`);
    return 1;
  }
}

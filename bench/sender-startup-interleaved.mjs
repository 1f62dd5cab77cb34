// Sender start-up next to `node -e 0`, interleaved: each round runs every
// command once, so load swings on a shared machine hit both alike (hyperfine
// runs all of one command, then all of the other). Reports wall-time medians
// and their ratio. Usage: node bench/sender-startup-interleaved.mjs [rounds]
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';

const rounds = Number(process.argv[2] ?? 30);
const bin = fileURLToPath(new URL('../packages/sender/dist/send_push_notification.mjs', import.meta.url));
const server = createServer((req, res) => { req.resume(); req.on('end', () => res.end('ok')); });
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${server.address().port}/message`;

const commands = {
  'node -e 0': ['-e', '0'],
  sender: [bin, '-t', 'host', '-hostuuid', 'h', '-state', '1', '-output', 'bench', '-user-id', '1', '-url', url],
};

function once(args) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(Number(process.hrtime.bigint() - t0) / 1e6) : reject(new Error(`exit ${code}`))));
  });
}

const times = Object.fromEntries(Object.keys(commands).map((k) => [k, []]));
for (let i = 0; i < rounds; i++) {
  for (const [name, args] of Object.entries(commands)) times[name].push(await once(args));
}
server.close();

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const [base, sender] = Object.values(times).map(median);
for (const [name, xs] of Object.entries(times)) console.log(`${name.padEnd(10)} median ${median(xs).toFixed(1)} ms  min ${Math.min(...xs).toFixed(1)} ms  (${rounds} runs)`);
console.log(`ratio (median) ${(sender / base).toFixed(2)}x`);

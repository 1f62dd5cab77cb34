// Builds the installable app into dist/app (docs/web-push.md "The app"):
// the page script and the service worker bundled by esbuild, the static
// files copied, and PNG icons drawn here (a bell on a square) with node:zlib,
// so no image tool is needed.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { build } from 'esbuild';

const out = new URL('./dist/app/', import.meta.url);
mkdirSync(out, { recursive: true });
await build({ entryPoints: { app: 'src/app/app.ts' }, bundle: true, format: 'esm', target: 'es2020', outdir: out.pathname, logLevel: 'warning' });
// A service worker is a classic script unless registered with type: 'module' (not in every browser): an IIFE.
await build({ entryPoints: { sw: 'src/sw/service-worker.ts' }, bundle: true, format: 'iife', target: 'es2020', outdir: out.pathname, logLevel: 'warning' });
for (const f of ['index.html', 'manifest.webmanifest', 'icon.svg']) copyFileSync(new URL(`./src/app/${f}`, import.meta.url), new URL(f, out));

const CRC = new Int32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});
function crc32(buf) {
  let c = -1;
  for (const b of buf) c = CRC[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
/** A size×size RGB PNG: dark blue square, white bell (dome, body, clapper). */
function icon(size) {
  const raw = Buffer.alloc((size * 3 + 1) * size);
  for (let y = 0; y < size; y++) {
    raw[y * (size * 3 + 1)] = 0;
    for (let x = 0; x < size; x++) {
      const u = x / size;
      const v = y / size;
      const dome = (u - 0.5) ** 2 + ((v - 0.42) * 1.1) ** 2 < 0.22 ** 2 && v < 0.45;
      const body = v >= 0.4 && v < 0.68 && Math.abs(u - 0.5) < 0.22 + (v - 0.4) * 0.35;
      const clapper = (u - 0.5) ** 2 + (v - 0.78) ** 2 < 0.07 ** 2;
      const white = dome || body || clapper;
      const i = y * (size * 3 + 1) + 1 + x * 3;
      raw[i] = white ? 255 : 0x1f;
      raw[i + 1] = white ? 255 : 0x3a;
      raw[i + 2] = white ? 255 : 0x5f;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}
for (const size of [192, 512]) writeFileSync(new URL(`icon-${size}.png`, out), icon(size));

import t from 'tap';
import jsqrModule from 'jsqr';
import { qrMatrix, qrTerminal } from '../../src/cli/qr.js';

// jsqr is CommonJS whose types declare an ES default export: under NodeNext the default import is the function at runtime, typed as the namespace.
const jsQR = jsqrModule as unknown as (data: Uint8ClampedArray, width: number, height: number) => { data: string } | null;

/** The matrix as an RGBA image (4 px per module, quiet zone 4), for a real decoder. */
function image(m: boolean[][]): { data: Uint8ClampedArray; width: number } {
  const scale = 4;
  const quiet = 4;
  const width = (m.length + quiet * 2) * scale;
  const data = new Uint8ClampedArray(width * width * 4).fill(255);
  for (let y = 0; y < m.length; y++) {
    for (let x = 0; x < m.length; x++) {
      if (!m[y]![x]) continue;
      for (let dy = 0; dy < scale; dy++) {
        for (let dx = 0; dx < scale; dx++) {
          const o = (((y + quiet) * scale + dy) * width + (x + quiet) * scale + dx) * 4;
          data[o] = data[o + 1] = data[o + 2] = 0;
        }
      }
    }
  }
  return { data, width };
}

t.test('enrolment links of every length up to version 10 decode back to the same text with an independent decoder (jsQR)', async (t) => {
  const base = 'https://oitc.example.com/pushgate/app/#enrol=';
  const texts = ['a', 'https://a.example/#enrol=x', 'http://127.0.0.1:8083/app/#enrol=qLg2tY', ...[0, 5, 20, 40, 60, 90, 130].map((extra) => `${base}qLg2tY-_qIcKsCb1DzyvUBjiUYYoNlys${'x'.repeat(extra)}`)];
  const versions = new Set<number>();
  for (const text of texts) {
    const m = qrMatrix(text);
    const { data, width } = image(m);
    const decoded = jsQR(data, width, width);
    versions.add((m.length - 17) / 4);
    t.equal(decoded?.data, text, `${Buffer.byteLength(text)} bytes, version ${(m.length - 17) / 4}`);
  }
  t.same([...versions].sort((a, b) => a - b), [1, 2, 3, 5, 6, 7, 8, 9, 10], 'versions with one and several blocks, with and without version information');
  t.throws(() => qrMatrix('x'.repeat(300)), /too long for a QR code up to version 10/);
});

t.test('the terminal rendering has two module rows per line, framed by the quiet zone', async (t) => {
  const text = 'http://127.0.0.1:8083/app/#enrol=abc';
  const size = qrMatrix(text).length + 4;
  const lines = qrTerminal(text).trimEnd().split('\n');
  t.equal(lines.length, Math.ceil(size / 2));
  // eslint-disable-next-line no-control-regex
  t.equal(lines[0]!.replace(/\x1b\[[0-9;]*m/g, ''), '█'.repeat(size), 'the first line is quiet zone');
});

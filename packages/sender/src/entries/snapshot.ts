/**
 * Entry for a Node start-up snapshot of the sender (`node --build-snapshot`,
 * start-up experiment in scripts/build-variants.mjs): the snapshot holds the
 * loaded sender and runs {@link main} when a process starts from it.
 */
import { isSea } from 'node:sea';
import { startupSnapshot } from 'node:v8';
import { main } from '../cli.js';

startupSnapshot.setDeserializeMainFunction(() => {
  // `node --snapshot-blob blob -- <flags>`: argv has no script, the flags
  // start at argv[1]; in a single executable argv[1] repeats the binary.
  void main(process.argv.slice(isSea() ? 2 : 1)).then((code) => { process.exitCode = code; });
});

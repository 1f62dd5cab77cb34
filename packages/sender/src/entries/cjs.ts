/**
 * Entry for CommonJS builds of the sender (start-up experiments in
 * scripts/build-variants.mjs: a CommonJS bundle, Node single executables):
 * CommonJS has no top-level await.
 */
import { main } from '../cli.js';

void main(process.argv.slice(2)).then((code) => { process.exitCode = code; });

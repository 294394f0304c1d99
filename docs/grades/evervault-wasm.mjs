// Grades @evervault/wasm-attestation-bindings (npm) with nsm-vectors. The package is installed
// outside the repository (GRADE_NPM_DIR, default /tmp/grade-npm-wasm); npm is never part of the
// build or the tests.
//
//   node docs/grades/evervault-wasm.mjs DOC ROOT TIME [PCR0_HEX] [NONCE_HEX] [USER_DATA_HEX]
//
// The package pins the AWS Nitro Enclaves root: its wasm module carries the root as one PEM
// text and offers no option for another. To grade it on simulated documents this wrapper
// loads a modified copy IN MEMORY: when ROOT is not the pinned root, it replaces that PEM text
// by ROOT's, which must have exactly the same length (docs/grades/same-length-root.sh makes
// such a test root and a corpus signed by it); nothing else in the module changes and the
// files on disk are never touched. Given the AWS root itself, the module runs unmodified.
// The package reads the clock through JavaScript's Date.now(), so TIME is given there.
//
// The calls are the package's own: validateAttestationDocPcrs(base64 document, [expected
// PCRs]) - decode, structure, chain to the root, COSE signature, PCRs - and, for a nonce or
// user_data the relying party expects, getNonce/getUserData compared byte for byte (the
// package's documented flow stops at the PCRs; a relying party adds these itself).
// Exit 0: accepted; 1: rejected; 126: the wrapper could not run (the grader counts an error).
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const CANNOT_RUN = 126;
const [doc, rootPath, time, pcr0, nonce, userData] = process.argv.slice(2);
const dir = process.env.GRADE_NPM_DIR || '/tmp/grade-npm-wasm';
const pkg = `${dir}/node_modules/@evervault/wasm-attestation-bindings`;

function fail(code, message) {
  console.log(message);
  process.exit(code);
}

if (!doc || !rootPath || !/^[0-9]+$/.test(time || ''))
  fail(CANNOT_RUN, 'usage: evervault-wasm.mjs DOC ROOT TIME [PCR0] [NONCE] [USER_DATA]');

// The one PEM certificate in the module is the pinned root; find it by its armour.
let wasm, root;
try {
  wasm = readFileSync(`${pkg}/index_bg.wasm`);
  root = readFileSync(rootPath, 'latin1').trim();
} catch (e) {
  fail(CANNOT_RUN, `cannot read the package or the root: ${e.message}`);
}
const begin = Buffer.from('-----BEGIN CERTIFICATE-----');
const end = Buffer.from('-----END CERTIFICATE-----');
const at = wasm.indexOf(begin);
if (at < 0 || wasm.indexOf(begin, at + 1) >= 0)
  fail(CANNOT_RUN, 'expected exactly one PEM certificate in the wasm module');
const stop = wasm.indexOf(end, at) + end.length;
const pinned = wasm.subarray(at, stop).toString('latin1');
if (root !== pinned) {
  if (root.length !== pinned.length)
    fail(CANNOT_RUN, `the root PEM has ${root.length} characters, the pinned one ${pinned.length}: ` +
                     'make a test root of the same length (same-length-root.sh)');
  wasm = Buffer.from(wasm); // a private copy: the module on disk stays as published
  wasm.write(root, at, 'latin1');
}

// The package says why it refuses only through console.error, with fixed context prefixes;
// keep its last message, without them, for the first line of the verdict.
let why = '';
console.error = (...parts) => {
  why = parts.join(' ').replace(/^ATTESTATION :: /, '')
    .replace(/^An error occur while validating the attestation doc against the Enclave connection's cert: /, '')
    .replace(/^An error occurred while attesting the connection received: /, '');
};

const nowMs = Number(time) * 1000;
Date.now = () => nowMs;

const ev = await import(pathToFileURL(`${pkg}/index.js`).href);
ev.initSync({ module: wasm });

const docB64 = readFileSync(doc).toString('base64');
const pcrs = ev.PCRs.empty();
if (pcr0) pcrs.pcr0 = pcr0.toLowerCase();
let verdict = false;
try {
  verdict = ev.validateAttestationDocPcrs(docB64, [pcrs]);
} catch (e) {
  fail(1, `invalid: threw ${String(e && e.message ? e.message : e).split('\n')[0]}`);
}
if (!verdict) fail(1, `invalid: ${why || 'validateAttestationDocPcrs returned false'}`);

// A field the relying party expects must be present and hold exactly these bytes.
function same(got, hex) {
  return got !== undefined && Buffer.from(got).equals(Buffer.from(hex, 'hex'));
}
try {
  if (nonce && !same(ev.getNonce(docB64), nonce)) fail(1, 'invalid: nonce differs');
  if (userData && !same(ev.getUserData(docB64), userData)) fail(1, 'invalid: user_data differs');
} catch (e) {
  fail(1, `invalid: threw ${String(e && e.message ? e.message : e).split('\n')[0]}`);
}
console.log('valid');
process.exit(0);

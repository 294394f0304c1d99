// Grades @0xsequence/tee-verifier (npm) with nsm-vectors. The package is installed outside
// the repository (GRADE_NPM_DIR, default /tmp/grade-npm); npm is never part of the build.
//
//   nsm-vectors grade --name '@0xsequence/tee-verifier 0.1.2' \
//     --cmd 'node docs/grades/tee-verifier.mjs {doc} {root} {time} {pcr0} {nonce}'
//
// The calls are the ones the package's own verifying fetch makes, in its order: decode,
// nonce, PCRs, root of trust at the verification time, the root's SHA-256 fingerprint
// (pinned here to the test root instead of AWS's), the COSE signature. The package has no
// maximum age and no debug-mode check, so the wrapper passes none. Exit 0: accepted.
import { readFileSync } from 'node:fs';
import { createHash, X509Certificate } from 'node:crypto';
import { pathToFileURL } from 'node:url';

globalThis.window = globalThis; // the package reads window.crypto
const dir = process.env.GRADE_NPM_DIR || '/tmp/grade-npm';
const { SignedAttestation } = await import(
  pathToFileURL(`${dir}/node_modules/@0xsequence/tee-verifier/dist/index.js`).href);

const [doc, root, time, pcr0, nonce] = process.argv.slice(2);
try {
  const att = SignedAttestation.fromDocument(readFileSync(doc).toString('base64'));
  if (nonce && att.nonce !== new TextDecoder().decode(Buffer.from(nonce, 'hex')))
    throw new Error('Invalid nonce');
  if (pcr0 && att.pcrs.get(0) !== pcr0.toLowerCase()) throw new Error('Invalid PCR0');
  if (!(await att.verifyRootOfTrust(new Date(Number(time) * 1000))))
    throw new Error('Invalid root of trust');
  const pinned = createHash('sha256').update(new X509Certificate(readFileSync(root)).raw).digest('hex');
  if ((await att.rootCertFingerprint()) !== pinned) throw new Error('Invalid root certificate fingerprint');
  if (!(await att.verifySignature())) throw new Error('Invalid signature');
  console.log('valid');
  process.exit(0);
} catch (e) {
  console.log(`invalid: ${String(e && e.message ? e.message : e).split('\n')[0]}`);
  process.exit(1);
}

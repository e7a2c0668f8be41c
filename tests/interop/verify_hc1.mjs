// An independent EU-DCC verifier: Node's zlib and crypto, the `base45` and `cborg` packages — none of
// vaxpass's Python code. Usage: node verify_hc1.mjs TRUSTLIST.json HC1FILE...
// Prints one JSON line per file: {"file", "valid", "reason", "kid", "iss", "exp", "payload"}.
import { readFileSync } from "node:fs";
import { inflateSync } from "node:zlib";
import { X509Certificate, createHash, verify } from "node:crypto";
import base45 from "base45";
import { decode, encode } from "cborg";

const tags = [];
tags[18] = (decodeContent) => ({ tag: 18, value: decodeContent() }); // COSE_Sign1
const decoder = { decode: (bytes) => decode(bytes, { useMaps: true, tags }) };

const trust = JSON.parse(readFileSync(process.argv[2], "utf8")).map((e) => {
  const der = Buffer.from(e.certificate, "base64");
  return { kid: createHash("sha256").update(der).digest().subarray(0, 8).toString("base64"),
           listedKid: e.kid, key: new X509Certificate(der).publicKey, notAfter: new Date(e.not_after) };
});

const plain = (v) => v instanceof Map ? Object.fromEntries([...v].map(([k, x]) => [String(k), plain(x)]))
  : Array.isArray(v) ? v.map(plain) : v;

function check(text) {
  if (!text.startsWith("HC1:")) return { valid: false, reason: "prefix" };
  const cose = decoder.decode(inflateSync(base45.decode(text.slice(4))));
  const [protectedBytes, unprotected, payloadBytes, signature] = cose.tag === 18 ? cose.value : cose;
  const headers = decoder.decode(protectedBytes);
  const kid = Buffer.from(headers.get(4) ?? unprotected.get(4)).toString("base64");
  if (headers.get(1) !== -7) return { valid: false, reason: "alg" };
  const claims = decoder.decode(payloadBytes);
  const toBeSigned = encode(["Signature1", protectedBytes, new Uint8Array(0), payloadBytes]);
  const candidates = trust.filter((t) => t.kid === kid && t.listedKid === kid);
  const ok = candidates.some((t) => verify("sha256", toBeSigned, { key: t.key, dsaEncoding: "ieee-p1363" },
                                           Buffer.from(signature)));
  return { valid: ok, reason: candidates.length ? (ok ? "" : "signature") : "unknown-kid", kid,
           iss: claims.get(1), exp: claims.get(4), payload: plain(claims.get(-260).get(1)) };
}

for (const file of process.argv.slice(3)) {
  let result;
  try { result = check(readFileSync(file, "utf8").trim()); }
  catch (err) { result = { valid: false, reason: `decode: ${err.message}` }; }
  console.log(JSON.stringify({ file, ...result }));
}

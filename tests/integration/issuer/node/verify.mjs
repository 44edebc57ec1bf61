// SPDX-License-Identifier: Apache-2.0
// Independent verification of badgeflow's issued credentials: jose (VC-JWT against the served
// JWKS), ajv (the credential schema). One JSON request on argv[2], one JSON answer on stdout.
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import * as jose from "jose";
import Ajv2019 from "ajv/dist/2019.js";
import addFormats from "ajv-formats";

async function verify({ jwt, jwks_url }) {
  const jwks = jose.createRemoteJWKSet(new URL(jwks_url));
  try {
    const { payload, protectedHeader } = await jose.jwtVerify(jwt, jwks, {
      algorithms: ["ES256", "RS256"],
      typ: "JWT",
    });
    return { ok: true, payload, header: protectedHeader };
  } catch (e) {
    return { ok: false, error: `${e.code || e.name}: ${e.message}` };
  }
}

// Bitstring Status List v1.0 §3.2: the list credential verifies, and bit `index` (0 = the
// most significant bit of the first byte) of the gunzipped encodedList is the status.
async function status({ status_url, jwks_url, index }) {
  const res = await fetch(status_url, { headers: { accept: "application/jwt" } });
  const v = await verify({ jwt: (await res.text()).trim(), jwks_url });
  if (!v.ok) return v;
  const enc = v.payload.credentialSubject.encodedList;
  if (!enc.startsWith("u")) return { ok: false, error: "encodedList: not multibase base64url" };
  const bits = gunzipSync(Buffer.from(enc.slice(1), "base64url"));
  const bit = (bits[index >> 3] >> (7 - (index & 7))) & 1;
  return { ok: true, bit, size: bits.length * 8, purpose: v.payload.credentialSubject.statusPurpose };
}

function schema({ schema_path, doc }) {
  const ajv = new Ajv2019({ allErrors: true, strict: false });
  addFormats(ajv);
  const validate = ajv.compile(JSON.parse(readFileSync(schema_path, "utf8")));
  const valid = validate(doc);
  return { ok: true, valid, errors: validate.errors || [] };
}

const req = JSON.parse(process.argv[2]);
const fn = { verify, status, schema }[req.op];
const out = fn ? await fn(req) : { ok: false, error: `unknown op ${req.op}` };
process.stdout.write(JSON.stringify(out) + "\n");

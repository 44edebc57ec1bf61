#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Make a throw-away test CA and a server certificate for 127.0.0.1, ::1 (also as
# ::ffff:127.0.0.1) and localhost.
# Usage: make.sh OUTDIR  → OUTDIR/ca.pem, OUTDIR/server.pem, OUTDIR/server.key (test only;
# generated at test time into a scratch directory, never committed).
set -eu
out=${1:?usage: make.sh OUTDIR}
mkdir -p "$out"
cd "$out"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=badgeflow test CA" -keyout ca.key -out ca.pem \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
cat > server.ext <<'EXT'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:::1,IP:::ffff:127.0.0.1,DNS:localhost
EXT
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile server.ext -out server.pem 2>/dev/null
rm -f server.csr server.ext ca.srl ca.key

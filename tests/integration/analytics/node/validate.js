// SPDX-License-Identifier: Apache-2.0
// Validate xAPI statements with @learninglocker/xapi-validation (an implementation independent
// of badgeflow): reads a JSON array of statements on stdin, prints {"<id>": [warnings]} for
// the invalid ones and exits 1 if any, 0 if all are valid.
'use strict';
const validate = require('@learninglocker/xapi-validation').default;

let input = '';
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  const bad = {};
  for (const st of JSON.parse(input)) {
    const warnings = validate(st);
    if (warnings.length > 0) {
      bad[st.id] = warnings.map((w) => JSON.stringify(w, (k, v) => (k === 'data' ? undefined : v)));
    }
  }
  process.stdout.write(JSON.stringify(bad) + '\n');
  process.exit(Object.keys(bad).length ? 1 : 0);
});

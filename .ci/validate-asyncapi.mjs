// Validates an AsyncAPI document with the official parser; exits 1 on any error diagnostic.
import { readFileSync } from 'node:fs';
import { Parser } from '@asyncapi/parser';

const file = process.argv[2];
const { document, diagnostics } = await new Parser().parse(readFileSync(file, 'utf8'), { source: file });
for (const d of diagnostics) {
  console.log(`${['error', 'warning', 'info', 'hint'][d.severity] ?? d.severity} ${d.code} ${d.path.join('.')}: ${d.message}`);
}
if (!document || diagnostics.some((d) => d.severity === 0)) {
  console.error(`${file}: INVALID`);
  process.exit(1);
}
console.log(`${file}: OK`);

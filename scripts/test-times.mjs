#!/usr/bin/env node
// Where the suite's time went: reads the JSON report every vitest run writes (test-results/vitest.json, see
// vitest.config.ts) and prints the slowest files, the time per project, and the run's wall time.
// Usage: node scripts/test-times.mjs [REPORT] [--top N] [--json]
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

const args = process.argv.slice(2);
const json = args.includes('--json');
const topAt = args.indexOf('--top');
const top = topAt >= 0 ? Number(args[topAt + 1]) : 15;
const file = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--top') ?? 'test-results/vitest.json';

let report;
try {
  report = JSON.parse(readFileSync(file, 'utf8'));
} catch (err) {
  console.error(`test-times: cannot read ${file} (${err.code ?? err.message}); run the tests first (npm test)`);
  process.exit(2);
}

const files = report.testResults.map((r) => {
  const ends = r.assertionResults.map((a) => a.duration ?? 0);
  return {
    file: relative(process.cwd(), r.name),
    project: relative(process.cwd(), r.name).split('/').slice(0, 2).join('/'),
    seconds: Math.max(0, (r.endTime - r.startTime) / 1000),
    tests: r.assertionResults.length,
    failed: r.assertionResults.filter((a) => a.status === 'failed').length,
    slowestTestSeconds: Math.max(0, ...ends) / 1000,
  };
});
files.sort((a, b) => b.seconds - a.seconds);
const starts = report.testResults.map((r) => r.startTime);
const ends = report.testResults.map((r) => r.endTime);
const wallSeconds = files.length ? (Math.max(...ends) - Math.min(...starts)) / 1000 : 0;
const fileSeconds = files.reduce((s, f) => s + f.seconds, 0);
const projects = {};
for (const f of files) projects[f.project] = (projects[f.project] ?? 0) + f.seconds;

const summary = {
  wallSeconds: Math.round(wallSeconds),
  fileSeconds: Math.round(fileSeconds),
  files: files.length,
  tests: report.numTotalTests,
  failed: report.numFailedTests,
  projects: Object.fromEntries(Object.entries(projects).map(([k, v]) => [k, Math.round(v)])),
  slowest: files.slice(0, top).map((f) => ({ ...f, seconds: Math.round(f.seconds * 10) / 10 })),
};
if (json) {
  console.log(JSON.stringify(summary, null, 2));
} else {
  console.log(`${summary.tests} tests in ${summary.files} files, ${summary.failed} failed`);
  console.log(`wall ${summary.wallSeconds} s; ${summary.fileSeconds} s summed over files`);
  for (const [p, s] of Object.entries(summary.projects).sort((a, b) => b[1] - a[1])) {
    console.log(`  ${p.padEnd(20)} ${String(s).padStart(6)} s`);
  }
  console.log(`slowest ${top} files:`);
  for (const f of summary.slowest) {
    console.log(`  ${String(f.seconds).padStart(7)} s  ${f.file} (${f.tests} tests)`);
  }
}

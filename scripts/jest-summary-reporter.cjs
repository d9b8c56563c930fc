// Prints, after jest's own summary, why tests were skipped (the lines
// test/support/requires.ts logs), which tests failed with the first lines of
// each failure, and the plain closing line "N passed, N failed, N skipped"
// that CI reads. The failures are repeated here because CI keeps only the
// beginning and the end of long output: the middle, where jest prints them
// after a file's console output, may not survive.
class SummaryReporter {
  constructor() {
    this.skips = [];
    this.failures = [];
  }

  onTestResult(_test, result) {
    for (const entry of result.console ?? []) {
      if (entry.message.startsWith('skipped "')) this.skips.push(entry.message);
    }
    for (const t of result.testResults ?? []) {
      if (t.status !== "failed") continue;
      const first = (t.failureMessages ?? []).join("\n").split("\n").filter((l) => l.trim() !== "").slice(0, 6);
      this.failures.push(`FAILED ${t.fullName}\n${first.map((l) => `    ${l.slice(0, 300)}`).join("\n")}`);
    }
    if (result.testExecError) this.failures.push(`FAILED ${result.testFilePath}: ${String(result.testExecError.message).slice(0, 500)}`);
  }

  onRunComplete(_contexts, results) {
    const { numPassedTests, numFailedTests, numPendingTests, numTodoTests } = results;
    if (this.skips.length > 0) process.stdout.write(`\n${this.skips.join("\n")}\n`);
    if (this.failures.length > 0) process.stdout.write(`\n${this.failures.join("\n")}\n`);
    process.stdout.write(`\njest: ${numPassedTests} passed, ${numFailedTests} failed, ${numPendingTests + numTodoTests} skipped\n`);
  }
}
module.exports = SummaryReporter;

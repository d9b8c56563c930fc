// Prints, after jest's own summary, why tests were skipped (the lines
// test/support/requires.ts logs) and the plain closing line
// "N passed, N failed, N skipped" that CI reads.
class SummaryReporter {
  constructor() {
    this.skips = [];
  }

  onTestResult(_test, result) {
    for (const entry of result.console ?? []) {
      if (entry.message.startsWith('skipped "')) this.skips.push(entry.message);
    }
  }

  onRunComplete(_contexts, results) {
    const { numPassedTests, numFailedTests, numPendingTests, numTodoTests } = results;
    if (this.skips.length > 0) process.stdout.write(`\n${this.skips.join("\n")}\n`);
    process.stdout.write(`\njest: ${numPassedTests} passed, ${numFailedTests} failed, ${numPendingTests + numTodoTests} skipped\n`);
  }
}
module.exports = SummaryReporter;

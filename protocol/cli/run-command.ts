/**
 * How a CLI ends: with the exit code its main function returns, or, if it throws,
 * with one line naming the command and the error's message (exit 1). The errors a
 * user meets (a server not running, a database in use) say what to do; a stack
 * trace would only bury that line.
 */

/**
 * @example
 * runCommand('npm run events', async () => { … return 0; });
 */
export function runCommand(name: string, main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (e: Error) => {
      process.stderr.write(`${name}: ${e.message}\n`);
      process.exit(1);
    },
  );
}

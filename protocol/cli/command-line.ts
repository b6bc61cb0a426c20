/**
 * One command line for every CLI (`npm start`, `npm run token`, `events`,
 * `projections`, `demo`): `--help`/`-h` prints the usage on stdout and exits 0;
 * an unknown option, a missing or bad value prints one line saying why, then the
 * synopsis, on stderr and exits 2. Never a stack trace for what the user typed.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;
type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ options: O; allowPositionals: true; strict: true }>>;

export interface CommandLineSpec<O extends Options> {
  /** How the user runs it, e.g. `npm run token`: starts each one-line reason. */
  readonly name: string;
  /** The synopsis, e.g. `usage: npm run token -- [--sub <id>]`: shown with every bad command line. */
  readonly usage: string;
  /** What `--help` adds below the synopsis: what it does, each option. */
  readonly details: string;
  readonly options: O;
  /** Whether it takes arguments that are not options (a subcommand); default no. */
  readonly positionals?: boolean;
}

export class CommandLine<O extends Options> {
  readonly #spec: CommandLineSpec<O>;

  constructor(spec: CommandLineSpec<O>) {
    this.#spec = spec;
  }

  /**
   * Parses the arguments, or exits: 0 after printing the usage for `--help`, 2 for a bad command line.
   * @example
   * const cli = new CommandLine({ name: 'npm run token', usage: 'usage: npm run token -- [--sub <id>]', details: '…', options: { sub: { type: 'string' } } });
   * const { values } = cli.parse(); // values.sub: string | undefined
   */
  parse(argv: readonly string[] = process.argv.slice(2)): Parsed<O> {
    const end = argv.indexOf('--');
    if ((end === -1 ? argv : argv.slice(0, end)).some((a) => a === '--help' || a === '-h')) {
      process.stdout.write(`${this.#spec.usage}\n\n${this.#spec.details}\n`);
      process.exit(0);
    }
    let parsed: Parsed<O>;
    try {
      parsed = parseArgs({ args: [...argv], options: this.#spec.options, allowPositionals: true, strict: true });
    } catch (e) {
      // Node's advice on positionals starting with '-' only confuses a mistyped option.
      return this.fail((e as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
    }
    if (this.#spec.positionals !== true && parsed.positionals.length > 0) this.fail(`unexpected argument ${JSON.stringify(parsed.positionals[0])}`);
    return parsed;
  }

  /** For a value parseArgs cannot judge (a number, a choice): prints why and the usage on stderr, exits 2. */
  fail(reason: string): never {
    process.stderr.write(`${this.#spec.name}: ${reason}\n${this.#spec.usage}\n(${this.#spec.name} -- --help for more)\n`);
    process.exit(2);
  }
}

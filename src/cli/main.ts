/**
 * The perfemu command line: each command is a Command in its own file (src/cli/<name>.ts, built
 * with command() from one declaration per option), parsed with `node:util` parseArgs.
 * Exit codes (printed by --help): 0 ok, 1 the run found a violation or a difference,
 * 2 bad usage or bad input, 3 a replay that did not reproduce its finding.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { demo } from './demo.js';
import { explain } from './explain.js';
import { exploreCmd, replayCmd } from './explore.js';
import { story } from './story.js';
import { stress } from './stress.js';
import { conformCommand } from './conform.js';
import { recorderCommand } from './recorder.js';
import { campaignCommand } from './campaign.js';
import { mergeCommand } from './merge.js';
import { labCommand } from './lab.js';

export { UsageError } from './usage.js';
import { UsageError } from './usage.js';
import { joinNegativeValues, type Command } from './command.js';
import { applyInliningSetting } from '../v8_inlining.js';
export { kernelOpt } from './command.js';

/** every command, each declared in its own file (src/cli/<name>.ts) */
const COMMANDS: Record<string, Command> = {
  demo,
  stress,
  explore: exploreCmd,
  replay: replayCmd,
  story,
  explain,
  conform: conformCommand,
  recorder: recorderCommand,
  campaign: campaignCommand,
  merge: mergeCommand,
  lab: labCommand,
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function helpText(): string {
  const names = Object.keys(COMMANDS);
  const w = Math.max(...names.map((n) => n.length));
  return [
    'perfemu — an emulator of the Linux BPF perf event array (BPF_MAP_TYPE_PERF_EVENT_ARRAY)',
    '',
    'Usage: perfemu <command> [options]',
    '',
    'Commands:',
    ...names.map((n) => `  ${n.padEnd(w)}  ${COMMANDS[n]!.summary}`),
    '',
    'Options:',
    '  --help     this text; `perfemu <command> --help` for a command',
    '  --version  the perfemu version',
    '',
    'Exit codes: 0 ok; 1 a violation or a failed check was found; 2 bad usage or a bad input file;',
    '3 a replay file did not reproduce its finding.',
    '',
    "Environment: PERFEMU_V8_INLINING=wide widens V8's inlining budget for the process: a CPU's output path runs about",
    "10-30 % faster once warm (less with more CPUs than cores), short runs warm up slower (README, Performance). Unset or default: V8's budget.",
    '',
    'Kernel versions: 4.7 (before the fix), 4.8 (commit 3b1efb196eee), 5.10 (BPF_F_PRESERVE_ELEMS), 6.18 (default).',
    "The library: import { Kernel } from 'perfemu' (see README.md, docs/api.md; what is modelled: docs/semantics.md).",
  ].join('\n');
}

function commandHelp(name: string, c: Command): string {
  const w = Math.max(...c.optionHelp.map(([o]) => o.length), 6);
  return [
    `perfemu ${name} — ${c.summary}`,
    '',
    `Usage: ${c.usage}`,
    '',
    'Options:',
    ...c.optionHelp.map(([o, d]) => `  ${o.padEnd(w)}  ${d}`),
    `  ${'--help'.padEnd(w)}  this text`,
    '',
    'Exit codes: 0 ok; 1 a violation or a failed check was found; 2 bad usage or a bad input file; 3 not reproduced (replay).',
  ].join('\n');
}

/**
 * A reader that closes the pipe early (`perfemu demo | head -1`) makes the next write fail with
 * EPIPE, which Node raises as an error on stdout: leave quietly, without a stack trace, with the
 * status a command killed by SIGPIPE has (128 + 13), so a script with pipefail still sees that
 * the run did not finish. (Workers end with the process.) For the command's entry points only
 * (bin/perfemu.js, this module run as a script): run() may be called from a program or a test,
 * whose streams are theirs.
 */
export function quietOnClosedPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(141);
      throw err;
    });
  }
}

/**
 * node:util parseArgs's error in our words where its own reads oddly: an unknown option's
 * message goes on about positionals after '--' (with an unbalanced quote), and a negated flag
 * given a value (--no-compare=1) is reported under its positive name.
 */
function parseArgsMessage(err: Error & { code?: string }, args: string[]): string {
  const first = err.message.split('\n')[0]!;
  const named = /'(-[^' ]*)/.exec(first)?.[1];
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && named) return `Unknown option '${named}'`;
  if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && named && /does not take an argument/.test(first)) {
    const written = args.find((a) => a.startsWith('--no-') && a.includes('=') && `--${a.slice(5, a.indexOf('='))}` === named);
    return `option '${written ? written.slice(0, written.indexOf('=')) : named}' is a flag: it takes no value`;
  }
  return first;
}

export async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === 'help' && rest[0] !== undefined) {
      const c = Object.hasOwn(COMMANDS, rest[0]) ? COMMANDS[rest[0]] : undefined;
      if (!c) throw new UsageError(`unknown command '${rest[0]}'; commands: ${Object.keys(COMMANDS).join(', ')}`);
      console.log(commandHelp(rest[0], c));
      return 0;
    }
    if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
      console.log(helpText());
      return name === undefined ? 2 : 0;
    }
    if (name === '--version' || name === '-v') {
      console.log(version());
      return 0;
    }
    const cmd = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (!cmd) throw new UsageError(`unknown command '${name}'; commands: ${Object.keys(COMMANDS).join(', ')}`);
    if (rest.includes('--help') || rest.includes('-h')) {
      console.log(commandHelp(name, cmd));
      return 0;
    }
    // before the command runs, so the whole run compiles under it and a bad value stops before any work
    try {
      applyInliningSetting();
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    let parsed: ReturnType<typeof parseArgs<{ options: Command['options']; allowPositionals: boolean; strict: true; tokens: true }>>;
    try {
      parsed = parseArgs({
        args: joinNegativeValues(rest, cmd.options),
        options: cmd.options,
        allowPositionals: (cmd.positionals ?? 0) > 0,
        strict: true,
        allowNegative: true,
        tokens: true,
      });
    } catch (err) {
      throw new UsageError(`${parseArgsMessage(err as Error & { code?: string }, rest)} (see 'perfemu ${name} --help')`);
    }
    // the options as written (`no-compare` for --no-compare), for "does not apply" checks
    const given = new Set(parsed.tokens.flatMap((t) => (t.kind === 'option' ? [t.rawName.replace(/^--?/, '')] : [])));
    return await cmd.run(parsed.values, parsed.positionals, given);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`perfemu: ${err.message}`);
      return 2;
    }
    throw err;
  }
}

// `node dist/src/cli/main.js <command>` (npm start) as well as the bin entry
if (import.meta.url === `file://${process.argv[1]}`) {
  quietOnClosedPipe();
  process.exitCode = await run(process.argv.slice(2));
}

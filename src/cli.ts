#!/usr/bin/env node
/**
 * ferry's entry point. With no subcommand it will open the full-screen app
 * (a later issue); today it prints help. Subcommands are headless and take
 * `--json` for scripts. Exit codes: 0 ok, 1 transfer failed, 2 usage,
 * 130 interrupted.
 */
import { Command, CommanderError, Option } from 'commander';
import { UsageError } from './cli/common.js';
import { ExitCode, errorJson, Reporter } from './cli/output.js';
import { receiveCommand } from './cli/receive.js';
import { DEFAULT_RELAY_LISTEN, relayCommand } from './cli/relay.js';
import { sendCommand } from './cli/send.js';
import { FerryError } from './engine/errors.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

function program(): Command {
  const p = new Command('ferry')
    .description(
      'Move files between machines, end-to-end encrypted (ML-KEM-1024 + X25519, CPace codes), verified and resumable.',
    )
    .option('--config-dir <dir>', 'where identity and sessions live (env FERRY_CONFIG_DIR)')
    .option('--no-mdns', 'do not use LAN discovery')
    .addOption(
      new Option('--mdns-interface <addr>', 'interface address for LAN discovery').env(
        'FERRY_MDNS_INTERFACE',
      ),
    )
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  p.addHelpText(
    'after',
    `
Exit codes: 0 done, 1 transfer failed, 2 usage error, 130 interrupted.
Environment: FERRY_RELAY (relay address), FERRY_CONFIG_DIR, FERRY_MDNS_INTERFACE, NO_COLOR.

Examples:
  ferry send report.pdf photos/ --relay relay.example.org:9009
  ferry receive 7-guitar-orbit-velvet --dir ~/Downloads --relay relay.example.org:9009
  ferry relay --listen 0.0.0.0:9009 --quic-port 9010 --metrics 127.0.0.1:9100`,
  );

  p.command('send')
    .description('send files or folders; prints a code for the receiver')
    .argument('<paths...>', 'files and folders to send')
    .option(
      '--code <code>',
      'use this code instead of a generated one (e.g. to resume after a restart)',
    )
    .option(
      '--relay <addr>',
      'relay HOST:PORT, tcp://… or quic://… (repeatable; env FERRY_RELAY)',
      collect,
    )
    .option('--relay-password <password>', 'password of a private relay')
    .option('--direct <host:port>', 'also listen for a direct connection here (QUIC and TCP)')
    .option('--json', 'one JSON object per line on stdout')
    .action(async (paths: string[], o, cmd: Command) => {
      await run(cmd, (out, signal) =>
        sendCommand(paths, { ...cmd.optsWithGlobals(), ...o }, out, signal),
      );
    });

  p.command('receive')
    .description('receive what a sender offers under a code')
    .argument('<code>', 'the code the sender shows, e.g. 7-guitar-orbit-velvet')
    .option('--dir <dir>', 'where to save (default: the current directory)')
    .option('-y, --yes', 'accept the offer without asking')
    .option(
      '--relay <addr>',
      'relay HOST:PORT, tcp://… or quic://… (repeatable; env FERRY_RELAY)',
      collect,
    )
    .option('--relay-password <password>', 'password of a private relay')
    .option('--direct <host:port>', "also try the sender's direct address")
    .option('--json', 'one JSON object per line on stdout')
    .action(async (code: string, o, cmd: Command) => {
      await run(cmd, (out, signal) =>
        receiveCommand(code, { ...cmd.optsWithGlobals(), ...o }, out, signal),
      );
    });

  p.command('relay')
    .description('run a relay that pairs senders and receivers and forwards ciphertext')
    .option('--listen <host:port>', 'TCP+TLS address', DEFAULT_RELAY_LISTEN)
    .option('--quic-port <port>', 'also serve QUIC on this UDP port')
    .option('--metrics <host:port>', 'serve Prometheus metrics over HTTP here')
    .option('--password <password>', 'require this password from clients')
    .option('--json', 'one JSON object per line on stdout')
    .action(async (o, cmd: Command) => {
      await run(cmd, (out, signal) =>
        relayCommand({ ...cmd.optsWithGlobals(), ...o }, out, signal),
      );
    });
  return p;
}

async function run(cmd: Command, body: (out: Reporter, signal: AbortSignal) => Promise<number>) {
  const out = new Reporter(Boolean(cmd.opts()['json']));
  const ac = new AbortController();
  let interrupts = 0;
  const onSignal = () => {
    if (++interrupts > 1) process.exit(ExitCode.Interrupted); // second Ctrl+C: leave now
    ac.abort(new FerryError('CANCELLED', 'interrupted'));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let code: number;
  try {
    code = await body(out, ac.signal);
  } catch (err) {
    code = report(err, out, ac.signal.aborted);
  }
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.exitCode = code;
  // Sockets, timers and workers must not keep a finished command alive.
  setTimeout(() => process.exit(code), 200).unref();
}

function report(err: unknown, out: Reporter, interrupted: boolean): number {
  if (interrupted) return ExitCode.Interrupted;
  if (
    err instanceof UsageError ||
    err instanceof RangeError ||
    (err instanceof FerryError && err.code === 'BAD_CODE')
  ) {
    out.line(errorJson('USAGE', err.message));
    out.say(`ferry: ${err.message}`);
    return ExitCode.Usage;
  }
  if (err instanceof FerryError) {
    out.line(errorJson(err.code, err.message));
    out.say(`ferry: ${err.message}`);
    return ExitCode.Failed;
  }
  const message = err instanceof Error ? err.message : String(err);
  out.line(errorJson('INTERNAL', message));
  out.say(`ferry: unexpected error: ${err instanceof Error ? err.stack : message}`);
  return ExitCode.Failed;
}

async function main(argv: string[]): Promise<void> {
  const p = program();
  if (argv.length <= 2) {
    // The full-screen app arrives with the TUI issue; until then, help.
    p.outputHelp();
    return;
  }
  try {
    await p.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
      return;
    }
    throw err;
  }
}

void main(process.argv);

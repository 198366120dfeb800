#!/usr/bin/env node
/**
 * ferry's entry point. With no subcommand it opens the full-screen app
 * (src/ui, driven by src/app). Subcommands are headless and take
 * `--json` for scripts. Exit codes: 0 ok, 1 transfer failed, 2 usage,
 * 130 interrupted.
 */
import { Command, CommanderError, Option } from 'commander';
import { DEFAULT_RELAY_LISTEN, settingsHelp, UsageError } from './cli/help.js';
import { ExitCode, errorJson, Reporter } from './cli/output.js';
import { FerryError } from './engine/errors.js';
import { tuneHeap } from './heap.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** Stops the running headless command (set by run() while one runs). */
let stopCommand: ((reason: FerryError) => void) | null = null;

/**
 * A reader that went away (`ferry --help | head`, a script that stopped
 * reading `--json`) makes every later write fail with EPIPE, which Node
 * raises as an unhandled 'error' event: a crash with a stack trace. Output
 * is dropped instead, and a running command stops as on Ctrl+C (orderly:
 * the peer is told, a receive keeps its checkpoint; exit code 130).
 */
function guardOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', () => stopCommand?.(new FerryError('CANCELLED', 'output closed')));
  }
}

function program(): Command {
  const p = new Command('ferry')
    .description(
      'Move files between machines, end-to-end encrypted (ML-KEM-1024 + X25519, CPace codes), verified and resumable.',
    )
    .option(
      '--config-dir <dir>',
      'where identity, settings, known peers and sessions live (env FERRY_CONFIG_DIR)',
    )
    .option('--no-mdns', 'do not use LAN discovery')
    .addOption(
      new Option(
        '--mdns-interface <addr>',
        'IPv4 address or name of the interface for LAN discovery',
      ).env('FERRY_MDNS_INTERFACE'),
    )
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  p.addHelpText(
    'after',
    `
With no command, ferry opens the full-screen app (queue, peers, offers, sessions).

Exit codes: 0 done, 1 transfer failed, 2 usage error, 130 interrupted.
Environment: FERRY_RELAY (relay address), FERRY_CONFIG_DIR, FERRY_MDNS_INTERFACE, NO_COLOR.

Examples:
  ferry send report.pdf photos/                 (a receiver on this network finds it)
  ferry receive --listen                        (then, on the other machine:)
  ferry send report.pdf --to bobs-laptop
  ferry send report.pdf photos/ --relay relay.example.org:9009
  ferry receive 7-guitar-orbit-velvet --dir ~/Downloads --relay relay.example.org:9009
  ferry relay --listen 0.0.0.0:9009 --quic-port 9010 --metrics 127.0.0.1:9100`,
  );

  // No subcommand: the full-screen app.
  p.allowExcessArguments(true).action(async (_o, cmd: Command) => {
    if (cmd.args.length > 0) {
      process.stderr.write(`ferry: unknown command '${cmd.args[0]}' (see 'ferry --help')\n`);
      process.exitCode = ExitCode.Usage;
      return;
    }
    await runApp(cmd);
  });

  p.command('send')
    .description('send files or folders; prints a code for the receiver')
    .argument('<paths...>', 'files and folders to send')
    .option(
      '--code <code>',
      'use this code instead of a generated one (e.g. to resume after a restart)',
    )
    .option(
      '--relay <addr>',
      'relay HOST:PORT, tcp://… or quic://…, with #KEY to check its key (repeatable; env FERRY_RELAY)',
      collect,
    )
    .option('--relay-password <password>', 'password of a private relay')
    .option('--direct <host:port>', 'also listen for a direct connection here (QUIC and TCP)')
    .option(
      '--to <peer>',
      "send straight to a device on this network (name, nickname or fingerprint; see 'ferry peers')",
    )
    .option('--wait <seconds>', 'with --to: how long to look for the device (default 5)')
    .option('--limit <rate>', 'bandwidth limit, e.g. 500k, 2.5M, 10MiB/s (default: none)')
    .option('--json', 'one JSON object per line on stdout')
    .action(async (paths: string[], o, cmd: Command) => {
      await run(
        cmd,
        () => import('./cli/send.js'),
        (m, out, signal) => m.sendCommand(paths, { ...cmd.optsWithGlobals(), ...o }, out, signal),
      );
    });

  p.command('receive')
    .description(
      'receive what a sender offers under a code, or (--listen) wait for senders on this network',
    )
    .argument('[code]', 'the code the sender shows, e.g. 7-guitar-orbit-velvet')
    .option('--dir <dir>', 'where to save (default: the current directory)')
    .option(
      '-y, --yes',
      'accept without asking (with --listen: from known peers only; new devices always ask)',
    )
    .option('--listen', "announce this device and accept 'ferry send --to' until Ctrl+C")
    .option('--port <port>', 'with --listen: UDP/TCP port to listen on (default: any free one)')
    .option(
      '--relay <addr>',
      'relay HOST:PORT, tcp://… or quic://…, with #KEY to check its key (repeatable; env FERRY_RELAY)',
      collect,
    )
    .option('--relay-password <password>', 'password of a private relay')
    .option('--direct <host:port>', "also try the sender's direct address")
    .option('--limit <rate>', 'bandwidth limit, e.g. 500k, 2.5M, 10MiB/s (default: none)')
    .option('--json', 'one JSON object per line on stdout')
    .action(async (code: string | undefined, o, cmd: Command) => {
      await run(
        cmd,
        () => import('./cli/receive.js'),
        (m, out, signal) => m.receiveCommand(code, { ...cmd.optsWithGlobals(), ...o }, out, signal),
      );
    });

  const peers = p.command('peers').description('devices on this network and known (trusted) peers');
  peers
    .command('list', { isDefault: true })
    .description('list known peers and devices seen on this network')
    .option('--watch', 'keep the list updated until Ctrl+C')
    .option('--wait <seconds>', 'how long to listen before printing (default 2)')
    .option('--json', 'one JSON object per line on stdout')
    .action(async (o, cmd: Command) => {
      await run(
        cmd,
        () => import('./cli/peers.js'),
        (m, out, signal) => m.peersCommand({ ...cmd.optsWithGlobals(), ...o }, out, signal),
      );
    });
  peers
    .command('trust')
    .description(
      "trust a device by its whole fingerprint (as 'ferry id' shows it there), or change a known peer",
    )
    .argument('<peer>', 'fingerprint of a new device, or name/fingerprint of a known one')
    .option('--nickname <name>', 'what to call it')
    .option('--auto-accept', 'accept its transfers without asking')
    .option('--no-auto-accept', 'ask before accepting its transfers')
    .option('--wait <seconds>', 'how long to look for a new device (default 5)')
    .option('--json', 'one JSON object per line on stdout')
    .action(async (who: string, o, cmd: Command) => {
      await run(
        cmd,
        () => import('./cli/peers.js'),
        (m, out, signal) => m.trustCommand(who, { ...cmd.optsWithGlobals(), ...o }, out, signal),
      );
    });
  peers
    .command('forget')
    .description('forget a known peer (it needs a code or confirmed words again)')
    .argument('<peer>', 'nickname or fingerprint prefix')
    .option('--json', 'one JSON object per line on stdout')
    .action(async (who: string, o, cmd: Command) => {
      await run(
        cmd,
        () => import('./cli/peers.js'),
        async (m, out) => m.forgetCommand(who, { ...cmd.optsWithGlobals(), ...o }, out),
      );
    });

  p.command('sessions')
    .description('transfers recorded on this machine (running, interrupted, done)')
    .option('--clear', 'forget the finished (done or cancelled) ones first')
    .option('--json', 'one JSON object per line on stdout')
    .action(async (o, cmd: Command) => {
      await run(
        cmd,
        () => import('./cli/sessions.js'),
        async (m, out) => m.sessionsCommand({ ...cmd.optsWithGlobals(), ...o }, out),
      );
    });

  p.command('resume')
    .description('continue an interrupted session without its code (the other side resumes too)')
    .argument('<id>', "session id or prefix (see 'ferry sessions')")
    .option('-y, --yes', 'accept without asking if the sender offers something else')
    .option(
      '--relay <addr>',
      'relay HOST:PORT, tcp://… or quic://…, with #KEY to check its key (repeatable; env FERRY_RELAY)',
      collect,
    )
    .option('--relay-password <password>', 'password of a private relay')
    .option('--limit <rate>', 'bandwidth limit, e.g. 500k, 2.5M, 10MiB/s (default: none)')
    .option('--json', 'one JSON object per line on stdout')
    .action(async (id: string, o, cmd: Command) => {
      await run(
        cmd,
        () => import('./cli/sessions.js'),
        (m, out, signal) => m.resumeCommand(id, { ...cmd.optsWithGlobals(), ...o }, out, signal),
      );
    });

  p.command('cancel')
    .description("give up a session; a receive's partial files are deleted")
    .argument('<id>', "session id or prefix (see 'ferry sessions')")
    .option('--json', 'one JSON object per line on stdout')
    .action(async (id: string, o, cmd: Command) => {
      await run(
        cmd,
        () => import('./cli/sessions.js'),
        (m, out) => m.cancelCommand(id, { ...cmd.optsWithGlobals(), ...o }, out),
      );
    });

  p.command('id')
    .description("this device's name and fingerprint (compare it when trusting a device)")
    .option('--name <name>', 'change the device name others see')
    .option('--json', 'one JSON object per line on stdout')
    .action(async (o, cmd: Command) => {
      await run(
        cmd,
        () => import('./cli/peers.js'),
        async (m, out) => m.idCommand({ ...cmd.optsWithGlobals(), ...o }, out),
      );
    });

  p.command('settings')
    .description("show or change settings ('unset' resets one)")
    .argument('[key]', 'the setting to show or change (all when omitted)')
    .argument('[value]', 'the new value')
    .option('--json', 'one JSON object per line on stdout')
    .addHelpText('after', settingsHelp())
    .action(async (key: string | undefined, value: string | undefined, o, cmd: Command) => {
      await run(
        cmd,
        () => import('./cli/settings.js'),
        async (m, out) => m.settingsCommand(key, value, { ...cmd.optsWithGlobals(), ...o }, out),
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
      await run(
        cmd,
        () => import('./cli/relay.js'),
        (m, out, signal) => m.relayCommand({ ...cmd.optsWithGlobals(), ...o }, out, signal),
      );
    });
  return p;
}

/**
 * Run one headless command: load its module (only now: `--help` and option
 * errors load none of them), own Ctrl+C and SIGTERM, map errors to exit codes.
 */
async function run<M>(
  cmd: Command,
  load: () => Promise<M>,
  body: (m: M, out: Reporter, signal: AbortSignal) => Promise<number>,
) {
  const out = new Reporter(Boolean(cmd.opts()['json']));
  // Loaded before the signal handlers go in: conf, imported with the command,
  // installs its own at import (see below).
  let mod: M;
  try {
    mod = await load();
  } catch (err) {
    process.exitCode = report(err, out, false);
    return;
  }
  const ac = new AbortController();
  stopCommand = (reason) => {
    if (!ac.signal.aborted) ac.abort(reason);
  };
  let interrupts = 0;
  const onSignal = () => {
    if (++interrupts > 1) process.exit(ExitCode.Interrupted); // second Ctrl+C: leave now
    ac.abort(new FerryError('CANCELLED', 'interrupted'));
  };
  // conf → atomically → when-exit hooks SIGINT/SIGTERM at import and re-sends
  // the signal to this process, which would look like a second Ctrl+C and
  // skip the orderly stop (cancel message, checkpoint, mDNS goodbye). We
  // own these two signals; its 'exit' hook (temp-file cleanup) stays.
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let code: number;
  try {
    code = await body(mod, out, ac.signal);
  } catch (err) {
    code = report(err, out, ac.signal.aborted);
  }
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  stopCommand = null;
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

/**
 * The TUI owns the terminal: keys (Ctrl+C included) arrive as input in raw
 * mode, and it handles SIGTERM/SIGHUP itself, restoring the screen.
 */
async function runApp(cmd: Command): Promise<void> {
  const out = new Reporter(false);
  let code: number;
  try {
    const { appCommand } = await import('./cli/app.js');
    // conf's when-exit hooks (installed when app.js loaded conf) would re-send
    // SIGINT/SIGTERM (see run()).
    process.removeAllListeners('SIGINT');
    process.removeAllListeners('SIGTERM');
    code = await appCommand(cmd.opts());
  } catch (err) {
    code = report(err, out, false);
  }
  process.exitCode = code;
  setTimeout(() => process.exit(code), 200).unref();
}

async function main(argv: string[]): Promise<void> {
  tuneHeap();
  guardOutput();
  const p = program();
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

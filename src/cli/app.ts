/**
 * `ferry` with no subcommand: the full-screen app. The app core (FerryApp)
 * starts first, so a bad setting or an unusable config dir is a plain error
 * on a normal screen; then the TUI takes over the terminal until the user
 * quits. Transfers still running then resume the next time ferry starts.
 */
import { FerryApp } from '../app/ferry-app.js';
import { type GlobalOptions, resolveConfigDir, UsageError } from './common.js';

/** Run the app; resolves with the exit code. */
export async function appCommand(
  opts: GlobalOptions & { relay?: string[]; relayPassword?: string },
): Promise<number> {
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    throw new UsageError(
      "the full-screen app needs a terminal; for scripts use the commands (see 'ferry --help')",
    );
  }
  // React picks its production build when first imported: set the mode
  // before the UI module loads (DESIGN.md: renders cost far less CPU).
  process.env['NODE_ENV'] ??= 'production';
  // ink renders nothing but the last frame when CI / CONTINUOUS_INTEGRATION
  // is set (is-in-ci, read when ink loads); someone who opens the app in a
  // terminal wants to see it, whatever their shell exports.
  delete process.env['CI'];
  delete process.env['CONTINUOUS_INTEGRATION'];
  const app = await FerryApp.start({
    configDir: resolveConfigDir(opts.configDir),
    mdns: opts.mdns,
    ...(opts.mdnsInterface ? { mdnsInterface: opts.mdnsInterface } : {}),
  });
  // Before ink loads: its text-measure cache would otherwise grow for as
  // long as the app runs (src/ui/ink-measure-cache.ts).
  const { boundInkMeasureCache } = await import('../ui/ink-measure-cache.js');
  boundInkMeasureCache();
  const { runTui } = await import('../ui/run-tui.js');
  await runTui(app);
  // A signal sets its own code (130, 143, …) in runTui.
  return typeof process.exitCode === 'number' ? process.exitCode : 0;
}

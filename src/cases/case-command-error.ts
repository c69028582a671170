import { userInfo } from 'node:os';

/**
 * The CLI's usage error and actor name, in a module of their own: the `casegate` commands import
 * them without loading the case commands (src/cases/case-commands.ts re-exports both).
 */

/** A usage problem (no such case, agent or level): the CLI prints it and exits 1. */
export class CaseCommandError extends Error {
  override readonly name = 'CaseCommandError';
  /** Print the message as it is (no "casegate cases:" prefix). */
  constructor(
    message: string,
    readonly bare = false,
  ) {
    super(message);
  }
}

export function cliActor(): string {
  let user = process.env['USER'] ?? '';
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (containers): fall back to $USER.
  }
  return `cli:${user !== '' ? user : 'unknown'}`;
}

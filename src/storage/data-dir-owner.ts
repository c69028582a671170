import { statSync } from 'node:fs';
import { userInfo } from 'node:os';

/**
 * Who casegate runs as. The data directory belongs to the service user (`casegate`, docs/operating.md);
 * everything casegate writes there is 0600/0700 (private-files.ts). A command an admin runs as root
 * (`casegate import`, `cases reply --attach`, `ingest`, `config` on a fresh directory, even `start`)
 * used to write root-owned files into it — the secret, blobs, `blobs/tmp` — which the daemon, running
 * as `casegate`, could then not read: it refused to start, or a reply's attachment failed to send.
 *
 * So, like Dovecot's doveadm and Postfix's tools, a process started as root on a data directory that
 * belongs to another user becomes that user (its uid, the directory's group, the user's supplementary
 * groups) before it touches anything there, for good: the rest of the command runs unprivileged.
 */
export interface DataDirOwner {
  readonly uid: number;
  readonly gid: number;
}

let switched: DataDirOwner | null = null;

/** The owner this process became (started as root), or null: error messages about files say so. */
export function becameDataDirOwner(): DataDirOwner | null {
  return switched;
}

/** For a file the command could not read: why, when it runs as the data directory's owner ('' otherwise). */
export function unreachableNote(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if ((code !== 'EACCES' && code !== 'EPERM') || switched === null) return '';
  return ` (started as root, casegate runs as uid ${switched.uid}, the owner of the data directory: put the file where that user can read it)`;
}

/** Become the owner of `dataDir` when running as root and it belongs to someone else; the owner taken, or null (nothing changed). */
export function actAsDataDirOwner(dataDir: string): DataDirOwner | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return null;
  const st = statSync(dataDir, { throwIfNoEntry: false });
  if (st === undefined || st.uid === 0) return null;
  // process.initgroups (Node's, POSIX only) is missing from @types/node.
  const proc = process as NodeJS.Process & { initgroups?: (user: number, extraGroup: number) => void };
  if (proc.setgroups === undefined || proc.setgid === undefined || proc.setuid === undefined) return null;
  try {
    if (proc.initgroups === undefined) throw new Error('no initgroups');
    proc.initgroups(st.uid, st.gid);
  } catch {
    // A uid without an entry in the user database: its directory's group only.
    proc.setgroups([st.gid]);
  }
  proc.setgid(st.gid);
  proc.setuid(st.uid);
  // The user's own environment, as the daemon has it under systemd (User=) and `sudo -u` gives it:
  // ~/.pgpass, PostgreSQL's default user name and an $EDITOR's files are the owner's, not root's
  // (whose home the owner cannot read).
  try {
    const me = userInfo();
    if (me.homedir !== '') process.env['HOME'] = me.homedir;
    process.env['USER'] = me.username;
    process.env['LOGNAME'] = me.username;
  } catch {
    // A uid without an entry in the user database: no home to give.
  }
  switched = { uid: st.uid, gid: st.gid };
  return switched;
}

/** Running as root (after actAsDataDirOwner found nobody else to be): the daemon warns. */
export function runningAsRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

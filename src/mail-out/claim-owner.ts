import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { processAlive } from '../instance-lock.js';

/** Who claims outbox rows (outbox.claimed_by): one id per sender process, `<host>:<pid>:<random>`. */
export function newClaimOwner(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}

/**
 * The sender that holds a claim is gone: a process of this host that no longer runs (kill -9, a
 * crash, a power loss before the claim lapsed). Its claim holds nothing — nobody is sending the
 * row — and the next start (SQLite) or the claim's lapse (PostgreSQL) hands it on. False when the
 * owner runs, is on another host, or cannot be told.
 */
export function claimantGone(owner: string): boolean {
  const parts = owner.split(':');
  if (parts.length < 3) return false;
  const pid = Number(parts.at(-2));
  const host = parts.slice(0, -2).join(':');
  return host === hostname() && Number.isInteger(pid) && pid > 0 && !processAlive(pid);
}

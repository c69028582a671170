/**
 * What is wrong with a `database.url` before casegate hands it to the PostgreSQL driver, or null.
 *
 * libpq's form for a failover pair, `postgres://user@db1:5432,db2:5432/db?target_session_attrs=read-write`,
 * lists several hosts; node-postgres (casegate's driver) connects to one host and cannot read
 * that URL at all: the daemon ended at start with "TypeError: Invalid URL" and a stack trace,
 * after `casegate config` had found nothing wrong.
 */
export function postgresUrlProblem(url: string): string | null {
  const authority = /^[a-z]+:\/\/([^/?#]*)/i.exec(url)?.[1] ?? '';
  const hosts = authority.slice(authority.lastIndexOf('@') + 1);
  if (hosts.includes(',')) {
    return (
      `lists several hosts (${hosts}): casegate's PostgreSQL driver connects to one host. ` +
      'For a failover, give one name that always leads to the primary — a DNS name or virtual IP that moves with it, ' +
      'or HAProxy / PgBouncer in front of the servers (with Patroni: its primary endpoint) — see docs/postgresql.md'
    );
  }
  return null;
}

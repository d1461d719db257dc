/**
 * Operator command for the actor table, with the engine's environment
 * (DATABASE_URL or DATA_DIR):
 *
 *   npm run actors -- summary            counts by kind and status
 *   npm run actors -- quarantined        every quarantined actor with its reason
 *   npm run actors -- show <id>          one actor's state and context
 *   npm run actors -- release <id>       mark a quarantined actor active again (audited);
 *                                        a running engine restores it at its next start
 *
 * With the embedded database (PGlite) the engine must be stopped first: only one process may open
 * it, and this command fails at once (LEASE_HELD, naming the engine's pid) while one runs.
 * On PostgreSQL it works beside a running engine: `release` is an operator write outside the lease
 * (OPERATOR_WRITE) that only touches a quarantined row, which the owner never writes meanwhile; the
 * owner (or the standby that takes over) restores the actor at its next boot. See ADR 0010.
 */
import { createSnapshotStore } from '../src/actors/snapshot-store.ts';
import { ConfigError } from '../src/errors.ts';
import { CONFIG_EXIT_CODE, loadConfig } from '../src/infra/config.ts';
import { createDatabase } from '../src/infra/db/database.ts';
import { OPERATOR_WRITE } from '../src/infra/db/fence.ts';
import { createLogger } from '../src/infra/logger.ts';

const [command, id] = process.argv.slice(2);
let config;
try {
  config = loadConfig(process.env);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`actors: ${err.message}\n`);
  process.exit(CONFIG_EXIT_CODE);
}
let db;
try {
  db = await createDatabase({ target: config.database, logger: createLogger({ level: 'warn' }) });
} catch (err) {
  process.stderr.write(`actors: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
try {
  switch (command) {
    case 'summary':
      print(await db.sql('select kind, status, count(*)::int as actors from actor_snapshots group by kind, status order by kind, status'));
      break;
    case 'quarantined':
      print(await db.sql(`select id, kind, parent, status_reason as reason, updated_at from actor_snapshots where status = 'quarantined' order by id`));
      break;
    case 'show': {
      const rows = await db.sql(`select id, kind, parent, status, status_reason, machine_version, version, snapshot->'value' as state, snapshot->'context' as context from actor_snapshots where id = ?`, [id ?? '']);
      if (!rows.length) throw new Error(`no actor ${id ?? '(missing id)'}`);
      print(rows[0]);
      break;
    }
    case 'release': {
      if (!(await createSnapshotStore(db, OPERATOR_WRITE).release(id ?? ''))) throw new Error(`${id ?? '(missing id)'} is not quarantined`);
      await db.audit({ actor: `operator:${process.env['USER'] ?? 'cli'}`, action: 'actor.released', subject: id ?? null });
      print({ released: id, next: 'restart the engine (or let it restart) to restore this actor; if it fails again it returns to quarantine' });
      break;
    }
    default:
      process.stderr.write('usage: npm run actors -- summary | quarantined | show <id> | release <id>\n');
      process.exitCode = 2;
  }
} catch (err) {
  process.stderr.write(`actors: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
} finally {
  await db.close();
}

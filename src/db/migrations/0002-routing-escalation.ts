import type { Kysely } from 'kysely';

/**
 * Priority, escalation, routing and ownership (issue 5):
 *  - cases.kind: 'case' or 'feedback' (a feedback queue's messages: closed at once, never reopened);
 *  - cases.escalated_at: when the case was last escalated (escalated + escalation_level exist since 0001);
 *  - case_tags: tags set by routing rules;
 *  - assignment_state: the last agent round-robin gave a case to, per queue.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('cases').addColumn('kind', 'text', (c) => c.notNull().defaultTo('case')).execute();
  await db.schema.alterTable('cases').addColumn('escalated_at', 'text').execute();
  await db.schema.createIndex('cases_owner').on('cases').columns(['owner', 'status']).execute();
  await db.schema.createIndex('cases_escalated').on('cases').columns(['escalated', 'escalation_level']).execute();

  await db.schema
    .createTable('case_tags')
    .addColumn('case_id', 'integer', (c) => c.notNull().references('cases.id'))
    .addColumn('tag', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('case_tags_pk', ['case_id', 'tag'])
    .execute();
  await db.schema.createIndex('case_tags_tag').on('case_tags').column('tag').execute();

  await db.schema
    .createTable('assignment_state')
    .addColumn('queue', 'text', (c) => c.primaryKey())
    .addColumn('last_agent', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('assignment_state').execute();
  await db.schema.dropTable('case_tags').execute();
  await db.schema.dropIndex('cases_escalated').execute();
  await db.schema.dropIndex('cases_owner').execute();
  await db.schema.alterTable('cases').dropColumn('escalated_at').execute();
  await db.schema.alterTable('cases').dropColumn('kind').execute();
}
